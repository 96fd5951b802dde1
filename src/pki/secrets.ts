// Non-certificate secrets: the route password, each node's internal nkey
// identity, and the first admin's Ed25519 key pair. Judge (for the plan) and
// mint (for apply) live side by side so they agree on formats.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { BadKeyPairError } from './errors.js';
import { readIfExists, writePrivateFile } from './files.js';

export interface SecretVerdict {
  op: 'mint' | 'write' | 'reuse';
  reason: string;
  /** A public value (nkey or Ed25519 public key hex): safe to print. */
  publicKey?: string;
}

const PASS_RE = /^[0-9a-f]{64}$/;

export async function judgeClusterPass(file: string): Promise<SecretVerdict> {
  const cur = await readIfExists(file);
  if (!cur) return { op: 'mint', reason: 'missing' };
  // Never regenerated: every node's route credentials depend on it.
  if (!PASS_RE.test(cur.toString('utf8').trim())) {
    throw new BadKeyPairError(file, file, 'cluster password is not 64 hex digits');
  }
  return { op: 'reuse', reason: 'present (never regenerated)' };
}

export async function mintClusterPass(file: string): Promise<void> {
  await writePrivateFile(file, randomBytes(32).toString('hex') + '\n', 0o600);
}

/** Internal nkey: reuse the seed when present; rewrite the public file when it is missing or stale. */
export async function judgeNkey(seedFile: string, pubFile: string): Promise<SecretVerdict> {
  const seed = await readIfExists(seedFile);
  if (!seed) return { op: 'mint', reason: 'missing' };
  let pub: string;
  try {
    const kp = fromSeed(new TextEncoder().encode(seed.toString('utf8').trim()));
    pub = kp.getPublicKey();
    if (!pub.startsWith('U')) throw new Error(`seed is not a user nkey (public key starts with ${pub[0]})`);
  } catch (err) {
    throw new BadKeyPairError(seedFile, pubFile, 'nkey seed does not parse (expected a user seed SU...)', { cause: err });
  }
  const curPub = (await readIfExists(pubFile))?.toString('utf8').trim();
  if (curPub !== pub) return { op: 'write', reason: curPub ? 'public key differs from seed' : 'public key missing', publicKey: pub };
  return { op: 'reuse', reason: 'present', publicKey: pub };
}

export async function mintNkey(seedFile: string, pubFile: string, reuseSeed: boolean): Promise<string> {
  let pub: string;
  if (reuseSeed) {
    const seed = (await readIfExists(seedFile))!.toString('utf8').trim();
    pub = fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } else {
    const kp = createUser();
    pub = kp.getPublicKey();
    await writePrivateFile(seedFile, new TextDecoder().decode(kp.getSeed()) + '\n', 0o600);
  }
  await writePrivateFile(pubFile, pub + '\n', 0o600);
  return pub;
}

// RFC 8410 PKCS#8 wrapping of a raw 32-byte Ed25519 seed.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Ed25519 seed (32 bytes, hex) -> public key (32 bytes, hex); Node does the curve math. */
function adminPublicFromSeed(seedHex: string): string {
  const d = Buffer.from(seedHex, 'hex');
  if (d.length !== 32 || !/^[0-9a-f]{64}$/i.test(seedHex)) throw new Error('seed is not 32 bytes of hex');
  const priv = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, d]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(priv).export({ format: 'jwk' });
  return Buffer.from(jwk.x!, 'base64url').toString('hex');
}

export async function judgeAdmin(seedFile: string, pubFile: string): Promise<SecretVerdict> {
  const seed = await readIfExists(seedFile);
  if (!seed) return { op: 'mint', reason: 'missing' };
  let pub: string;
  try {
    pub = adminPublicFromSeed(seed.toString('utf8').trim());
  } catch (err) {
    throw new BadKeyPairError(seedFile, pubFile, 'admin seed does not parse (expected 64 hex digits)', { cause: err });
  }
  const curPub = (await readIfExists(pubFile))?.toString('utf8').trim();
  if (curPub !== pub) return { op: 'write', reason: curPub ? 'public key differs from seed' : 'public key missing', publicKey: pub };
  return { op: 'reuse', reason: 'present', publicKey: pub };
}

export async function mintAdmin(seedFile: string, pubFile: string, reuseSeed: boolean): Promise<string> {
  let seedHex: string;
  if (reuseSeed) {
    seedHex = (await readIfExists(seedFile))!.toString('utf8').trim();
  } else {
    const { privateKey } = generateKeyPairSync('ed25519');
    seedHex = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url').toString('hex');
    await writePrivateFile(seedFile, seedHex + '\n', 0o600);
  }
  const pub = adminPublicFromSeed(seedHex);
  await writePrivateFile(pubFile, pub + '\n', 0o600);
  return pub;
}
