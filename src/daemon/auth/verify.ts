// Verifies a signed request and returns its user, or throws an ApiError.
//
// Leaks nothing about other users: an unknown handle and a signature that does
// not verify answer the same 401 `bad_signature`, so a caller cannot probe
// which handles exist. `revoked` is only told to a caller who proved they hold
// the revoked key. The nonce is claimed last, so unsigned traffic cannot fill
// the nonce bucket; its create-if-absent write is also this request's proof of
// quorum (see store/quorum.ts).
//
// A handle's signing key never changes (add refuses another key, revoke keeps
// it, handles are never reused), so keys are cached per store: with the key
// known, the signature is checked first and then the status read (consistent:
// at the leader, or from the node's copy under a fresh leader barrier, see
// store/follow.ts) and the nonce claim run side by side.
import type { Store } from '../store/buckets.js';
import { NONCE_WINDOW_MS } from '../store/buckets.js';
import { ApiError } from '../../protocol/errors.js';
import { HANDLE_RE, type UserRecord } from '../../protocol/model.js';
import { claimNonce } from '../store/nonces.js';
import type { QuorumGuard } from '../store/quorum.js';
import { getUser } from '../store/users.js';
import { HDR, NONCE_RE, TS_RE, canonicalString } from '../../protocol/canonical.js';
import type { KeyObject } from 'node:crypto';
import { publicKeyFromRaw, verifyBytes } from '../../protocol/ed25519.js';
import { sha256Hex } from '../../util/hash.js';
import type { Misbehaviour } from '../misbehave.js';

export interface IncomingSigned {
  method: string;
  pathAndQuery: string;
  header: (name: string) => string | undefined;
  body: Uint8Array;
}

const GENERIC = 'signature does not verify for this handle';

function need(req: IncomingSigned, name: string, re: RegExp, what: string): string {
  const v = req.header(name);
  if (!v || !re.test(v)) throw new ApiError('bad_signature', `header ${name}: expected ${what}`);
  return v;
}

const KEY_CACHE_MAX = 10_000;
const keyCache = new WeakMap<Store, Map<string, KeyObject>>();

function cachedKey(store: Store, handle: string): KeyObject | undefined {
  return keyCache.get(store)?.get(handle);
}

function rememberKey(store: Store, handle: string, key: KeyObject): void {
  let m = keyCache.get(store);
  if (!m) keyCache.set(store, (m = new Map()));
  if (m.size >= KEY_CACHE_MAX) m.delete(m.keys().next().value as string);
  m.set(handle, key);
}

export async function verifyRequest(
  store: Store,
  guard: QuorumGuard | undefined,
  req: IncomingSigned,
  now = Date.now(),
  /** Called once the signature is known good, before the status read and nonce claim finish (handlers start their own reads then). */
  onSigned?: () => void,
  /** Test-only: accept-replay skips the nonce claim, serve-revoked the status check (daemon/misbehave.ts). */
  misbehave?: ReadonlySet<Misbehaviour>,
): Promise<UserRecord> {
  const claim = misbehave?.has('accept-replay') ? async () => undefined : claimNonce;
  const active = misbehave?.has('serve-revoked') ? (u: UserRecord | null) => checkActive(u && { ...u, status: 'active' }) : checkActive;
  guard?.assertNotLost();
  const handle = need(req, HDR.handle, HANDLE_RE, 'a user handle');
  const tsText = need(req, HDR.ts, TS_RE, 'milliseconds since the epoch');
  const nonce = need(req, HDR.nonce, NONCE_RE, '16-64 characters of [A-Za-z0-9_-]');
  const sigText = need(req, HDR.sig, /^[A-Za-z0-9_-]{86}$/, 'a 64-byte Ed25519 signature in base64url');
  const ts = Number(tsText);
  if (Math.abs(now - ts) > NONCE_WINDOW_MS) {
    throw new ApiError('stale_timestamp', `timestamp is more than ${NONCE_WINDOW_MS / 1000} s from the server's clock`);
  }
  const msg = Buffer.from(canonicalString({ method: req.method, pathAndQuery: req.pathAndQuery, handle, ts, nonce, bodySha256: sha256Hex(req.body) }));
  const sig = Buffer.from(sigText, 'base64url');
  const known = cachedKey(store, handle);
  if (known) {
    if (!verifyBytes(known, msg, sig)) throw new ApiError('bad_signature', GENERIC);
    onSigned?.();
    const [user] = await Promise.all([getUser(store, handle), claim(store, handle, nonce, ts)]);
    return active(user);
  }
  const user = await getUser(store, handle);
  if (!user) throw new ApiError('bad_signature', GENERIC);
  const key = publicKeyFromRaw(Buffer.from(user.sign_pub, 'hex'));
  if (!verifyBytes(key, msg, sig)) throw new ApiError('bad_signature', GENERIC);
  rememberKey(store, handle, key);
  active(user);
  onSigned?.();
  await claim(store, handle, nonce, ts);
  return user;
}

function checkActive(user: UserRecord | null): UserRecord {
  if (!user) throw new ApiError('bad_signature', GENERIC);
  if (user.status !== 'active') throw new ApiError('revoked', 'this user is revoked');
  return user;
}
