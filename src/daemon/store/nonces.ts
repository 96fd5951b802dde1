// Anti-replay: a nonce is claimed with create-if-absent at the stream leader,
// never checked with a read. Nonces are never deleted (kv.create succeeds over
// a delete marker); they expire with the bucket TTL, which outlives the window.
// A claim counts only in a nonce history that has lost nothing a replay could
// use (store/nonce-history.ts).
// A claim whose answer never came (its stream leader handed off with the
// write in flight: measured in a graceful restart on the lab, 4 requests on
// the nodes that stayed refused after 2 s) is sent again, as every store
// call is (kvjson.ts: tries of TRY_MS within OP_BOUND_MS). The claim's
// value carries a token made for this claim alone, so when the second try
// finds the key taken, reading it tells whether the first try stored it (the
// claim is ours) or someone else did (a replay of the request carries the
// same nonce, never this token). nats-server's message-id dedupe cannot
// tell: 2.10.27 checks the expected last sequence before the message id.
import type { Store } from './buckets.js';
import { NONCE_STREAM } from './buckets.js';
import { ApiError, UnavailableError } from '../../protocol/errors.js';
import { beforeNextTry, isCasConflict, LEADERLESS_STEP_MS, TRY_MS, untilAnswered } from './kvjson.js';
import { sleep } from '../../util/time.js';
import { BUCKETS } from './names.js';
import { randomBytes } from 'node:crypto';
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
  const seq = await claimKey(store, `${handle}.${nonce}`, ts);
  if (seq === false) throw new ApiError('replay', 'this nonce was already used; sign each request with a fresh nonce');
  history.accept(check, seq);
}

/**
 * Create-if-absent of `key` in the nonce bucket ({ts, claim} as its value),
 * over nothing or over a delete or purge marker, as kv.create writes it: the
 * stored sequence, or false when the key is someone else's (a replay). A try
 * that got no answer is sent again; when one finds the key taken, the key is
 * read and is ours when it holds `claim`.
 */
export async function claimKey(store: Store, key: string, ts: number, claim = randomBytes(12).toString('base64url')): Promise<number | false> {
  const until = performance.now() + store.opTimeoutMs;
  // What the key's last message must be: none, or (as kv.create does it) a delete or purge marker.
  let after = 0;
  // Whether a try went unanswered: only then can a key found taken be this claim's own.
  let lost = false;
  for (;;) {
    const began = performance.now();
    try {
      const ack = await store.js.publish(`$KV.${BUCKETS.nonces}.${key}`, JSON.stringify({ ts, claim }), { expect: { lastSubjectSequence: after }, timeout: TRY_MS });
      return ack.seq;
    } catch (err) {
      if (isCasConflict(err)) {
        const held = await untilAnswered(`read ${key}`, () => store.kv.nonces.get(key));
        if (held && held.operation !== 'PUT' && held.revision !== after && performance.now() < until) {
          after = held.revision;
          continue;
        }
        // Refused while the key's last stored message is still the one this try expected: the
        // leader holds a write to the key in flight, not yet committed (seen with two of three
        // nodes killed, nats-server 2.15.1: a try unanswered for want of quorum, then 10164 "wrong
        // last sequence" with nothing stored). After a lost try that write may be this claim's:
        // whose it is is known once it commits or fails, so it is asked again, and never judged
        // within the bound is a 503, not a replay.
        const inFlight = !held || (held.operation !== 'PUT' && held.revision === after);
        if (lost && inFlight) {
          if (performance.now() >= until) throw new UnavailableError(`create ${key}`, err);
          await sleep(LEADERLESS_STEP_MS);
          continue;
        }
        // Taken: by an earlier try of this claim whose answer was lost, or by someone else (a replay).
        if (!lost || !held || held.operation !== 'PUT') return false;
        return (held.json<{ claim?: string }>().claim ?? null) === claim ? held.revision : false;
      }
      await beforeNextTry(err, `create ${key}`, began, until);
      lost = true;
    }
  }
}
