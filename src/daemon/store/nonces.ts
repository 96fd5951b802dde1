// Anti-replay: a nonce is claimed with create-if-absent at the stream leader,
// never checked with a read. Nonces are never deleted (kv.create succeeds over
// a delete marker); they expire with the bucket TTL, which outlives the window.
// A claim counts only in a nonce history that has lost nothing a replay could
// use (store/nonce-history.ts).
import type { Store } from './buckets.js';
import { NONCE_STREAM } from './buckets.js';
import { ApiError } from '../../protocol/errors.js';
import { createJson } from './kvjson.js';
import { NonceHistory } from './nonce-history.js';

const histories = new WeakMap<Store, NonceHistory>();

/** The store's nonce history guard, made on first use. */
export function nonceHistoryOf(store: Store, log?: (line: string) => void): NonceHistory {
  let h = histories.get(store);
  if (!h) {
    h = new NonceHistory(store.jsm, store.kv.nonces, NONCE_STREAM, store.replicas, { timeoutMs: store.opTimeoutMs, log });
    histories.set(store, h);
  }
  return h;
}

export async function claimNonce(store: Store, handle: string, nonce: string, ts: number): Promise<void> {
  const history = nonceHistoryOf(store);
  const check = await history.confirm();
  const seq = await createJson(store.kv.nonces, `${handle}.${nonce}`, ts);
  if (seq === false) throw new ApiError('replay', 'this nonce was already used; sign each request with a fresh nonce');
  history.accept(check, seq);
}
