// The string a request signature covers, shared by the daemon and the client.
// Each part is on its own line; none may contain a newline (the path and query
// are URL-encoded, the timestamp and nonce are checked by syntax).

export const HDR = {
  handle: 'x-unibus-handle',
  ts: 'x-unibus-ts',
  nonce: 'x-unibus-nonce',
  sig: 'x-unibus-sig',
} as const;

export const NONCE_RE = /^[A-Za-z0-9_-]{16,64}$/;
export const TS_RE = /^[0-9]{1,15}$/;

export interface SignedParts {
  method: string;
  /** Path plus query exactly as sent, e.g. /v1/rooms?x=1 */
  pathAndQuery: string;
  handle: string;
  /** Milliseconds since the epoch. */
  ts: number;
  nonce: string;
  bodySha256: string;
}

export function canonicalString(p: SignedParts): string {
  return ['UNIBUS-V1', p.method.toUpperCase(), p.pathAndQuery, p.handle, String(p.ts), p.nonce, p.bodySha256].join('\n');
}
