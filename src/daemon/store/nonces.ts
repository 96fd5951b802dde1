// Anti-replay: a nonce is claimed with create-if-absent at the stream leader,
// never checked with a read. Nonces are never deleted (kv.create succeeds over
// a delete marker); they expire with the bucket TTL, which outlives the window.
import type { Store } from './buckets.js';
import { ApiError } from './errors.js';
import { createJson } from './kvjson.js';

export async function claimNonce(store: Store, handle: string, nonce: string, ts: number): Promise<void> {
  const ok = await createJson(store.kv.nonces, `${handle}.${nonce}`, ts);
  if (ok === false) throw new ApiError('replay', 'this nonce was already used; sign each request with a fresh nonce');
}
