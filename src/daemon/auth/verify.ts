// Verifies a signed request and returns its user, or throws an ApiError.
//
// Leaks nothing about other users: an unknown handle and a signature that does
// not verify answer the same 401 `bad_signature`, so a caller cannot probe
// which handles exist. `revoked` is only told to a caller who proved they hold
// the revoked key. The nonce is claimed last, so unsigned traffic cannot fill
// the nonce bucket; its create-if-absent write is also this request's proof of
// quorum (see store/quorum.ts).
import type { Store } from '../store/buckets.js';
import { NONCE_WINDOW_MS } from '../store/buckets.js';
import { ApiError } from '../store/errors.js';
import { HANDLE_RE, type UserRecord } from '../store/model.js';
import { claimNonce } from '../store/nonces.js';
import type { QuorumGuard } from '../store/quorum.js';
import { getUser } from '../store/users.js';
import { HDR, NONCE_RE, TS_RE, canonicalString, sha256Hex } from './canonical.js';
import { verifyBytes } from './ed25519.js';

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

export async function verifyRequest(
  store: Store,
  guard: QuorumGuard | undefined,
  req: IncomingSigned,
  now = Date.now(),
): Promise<UserRecord> {
  guard?.assertNotLost();
  const handle = need(req, HDR.handle, HANDLE_RE, 'a user handle');
  const tsText = need(req, HDR.ts, TS_RE, 'milliseconds since the epoch');
  const nonce = need(req, HDR.nonce, NONCE_RE, '16-64 characters of [A-Za-z0-9_-]');
  const sigText = need(req, HDR.sig, /^[A-Za-z0-9_-]{86}$/, 'a 64-byte Ed25519 signature in base64url');
  const ts = Number(tsText);
  if (Math.abs(now - ts) > NONCE_WINDOW_MS) {
    throw new ApiError('stale_timestamp', `timestamp is more than ${NONCE_WINDOW_MS / 1000} s from the server's clock`);
  }
  const user = await getUser(store, handle);
  if (!user) throw new ApiError('bad_signature', GENERIC);
  const msg = canonicalString({ method: req.method, pathAndQuery: req.pathAndQuery, handle, ts, nonce, bodySha256: sha256Hex(req.body) });
  const ok = verifyBytes(Buffer.from(user.sign_pub, 'hex'), Buffer.from(msg), Buffer.from(sigText, 'base64url'));
  if (!ok) throw new ApiError('bad_signature', GENERIC);
  if (user.status !== 'active') throw new ApiError('revoked', 'this user is revoked');
  await claimNonce(store, handle, nonce, ts);
  return user;
}
