// membershipd's internal NATS identity: an nkey user seed persisted in a 0600
// file, created on first start. Its public key is the one user with full
// rights in the rendered authorization; the seed never leaves this file and
// this process's memory.
import { readFile, stat } from 'node:fs/promises';
import { createUser, fromSeed } from '@nats-io/nkeys';
import { UnibusError } from '../../errors.js';
import { Secret } from '../../secret.js';
import { writeFileAtomic } from '../../util/fs.js';

export class IdentityError extends UnibusError {}

export interface InternalIdentity {
  seed: Secret;
  publicKey: string;
}

export async function loadOrCreateIdentity(file: string): Promise<InternalIdentity> {
  const found = await readIdentity(file);
  if (found) return found;
  const kp = createUser();
  const seed = new TextDecoder().decode(kp.getSeed());
  await writeFileAtomic(file, seed + '\n', 0o600);
  return { seed: new Secret(seed), publicKey: kp.getPublicKey() };
}

/** The identity in `file`, or null when there is none; a file too open or not a user seed is an error. */
export async function readIdentity(file: string): Promise<InternalIdentity | null> {
  let text: string;
  try {
    const st = await stat(file);
    if ((st.mode & 0o077) !== 0) {
      throw new IdentityError(`${file}: mode ${(st.mode & 0o777).toString(8)} is too open for an nkey seed (expected 600)`);
    }
    text = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new IdentityError(`${file}: cannot read the identity`, { cause: err });
  }
  try {
    const kp = fromSeed(new TextEncoder().encode(text));
    const publicKey = kp.getPublicKey();
    if (!publicKey.startsWith('U')) throw new Error('not a user seed');
    return { seed: new Secret(text), publicKey };
  } catch (cause) {
    throw new IdentityError(`${file}: not an nkey user seed (expected a line starting with SU)`, { cause });
  }
}
