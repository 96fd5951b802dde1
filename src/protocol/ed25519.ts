// Ed25519 with raw 32-byte keys on node:crypto, and their NATS nkey forms.
// node:crypto reads keys only as DER: the raw key is wrapped in the fixed
// SPKI (public) or PKCS#8 (private) prefix for Ed25519 (RFC 8410).
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { Prefix } from '@nats-io/nkeys';
import { Codec } from '@nats-io/nkeys/lib/codec.js';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new RangeError(`an Ed25519 public key is 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** The raw 32-byte public key of a seed. */
export function rawPublicKey(seed: Uint8Array): Buffer {
  const der = createPublicKey(privateKeyFromSeed(seed)).export({ format: 'der', type: 'spki' });
  return der.subarray(SPKI_PREFIX.length);
}

// Parsing DER into a KeyObject costs more than the signature itself: keep the
// private KeyObject per seed array (held only while the caller holds the seed).
const privateKeys = new WeakMap<Uint8Array, KeyObject>();

export function signBytes(seed: Uint8Array, msg: Uint8Array): Buffer {
  let k = privateKeys.get(seed);
  if (!k) privateKeys.set(seed, (k = privateKeyFromSeed(seed)));
  return sign(null, msg, k);
}

export function verifyBytes(rawPub: Uint8Array | KeyObject, msg: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  try {
    return verify(null, msg, rawPub instanceof Uint8Array ? publicKeyFromRaw(rawPub) : rawPub, sig);
  } catch {
    return false;
  }
}

/** A user's signing key as a NATS user nkey ("U..."): the same key signs API requests and NATS logins. */
export function nkeyFromRaw(rawPub: Uint8Array): string {
  return new TextDecoder().decode(Codec.encode(Prefix.User, rawPub));
}

/** The seed in nkey seed form ("SU..."), for nats.js's nkeyAuthenticator. Secret material. */
export function nkeySeedFromRaw(seed: Uint8Array): Uint8Array {
  return Codec.encodeSeed(Prefix.User, seed);
}
