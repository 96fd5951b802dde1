// Request signing for the membershipd API: the headers a client sends, which
// the daemon checks (src/daemon/auth/verify.ts) for one method, path and body.
import { randomBytes } from 'node:crypto';
import { HDR, canonicalString } from './canonical.js';
import { signBytes } from './ed25519.js';
import { sha256Hex } from '../util/hash.js';

export interface SignOptions {
  handle: string;
  /** The 32-byte Ed25519 seed. */
  seed: Uint8Array;
  method: string;
  pathAndQuery: string;
  body: Uint8Array;
  /** Overrides for tests of refusals: a fixed nonce (replay) or an old clock. */
  nonce?: string;
  ts?: number;
}

export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function signHeaders(o: SignOptions): Record<string, string> {
  const ts = o.ts ?? Date.now();
  const nonce = o.nonce ?? newNonce();
  const msg = canonicalString({ method: o.method, pathAndQuery: o.pathAndQuery, handle: o.handle, ts, nonce, bodySha256: sha256Hex(o.body) });
  return {
    [HDR.handle]: o.handle,
    [HDR.ts]: String(ts),
    [HDR.nonce]: nonce,
    [HDR.sig]: signBytes(o.seed, Buffer.from(msg)).toString('base64url'),
  };
}
