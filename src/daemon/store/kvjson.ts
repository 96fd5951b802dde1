// JSON values in KV with bounded, fail-closed error handling and compare-and-set.
//
// Every call is tried until it is answered, within OP_BOUND_MS: a try that
// got no answer (its stream's leader handed off with it in flight, measured
// with nats-server alone in bench/repro-handoff.ts: on a graceful stop a few
// publishes in flight are never answered, the rest of the stream's gap is
// under 300 ms), or that found the stream between leaders (no responders,
// "cluster not available"), is tried again; each try is bounded by TRY_MS,
// half the op bound, so one lost try leaves time for the next. Repeating a
// write is safe here: an update reads and changes again (every change given
// to updateJson is idempotent, so a first try that did land is found, not
// repeated), a create that then finds its key taken answers false as for any
// taken key (its callers tell their own write by its content), and a put
// writes the same value again.
import type { KV } from '@nats-io/kv';
import { JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';
import { sleep } from '../../util/time.js';
import { ApiError, UnavailableError } from '../../protocol/errors.js';

/** Wrong last sequence: the key changed (or exists) since we read it. */
export function isCasConflict(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10071 || err.code === 10164);
}

/** No answer came (a timeout, or nobody to answer): the write may or may not be in. */
export function isUnanswered(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof TimeoutError || e instanceof NoRespondersError || (e instanceof RequestError && e.isNoResponders())) return true;
  }
  return false;
}

/** JetStream's "cluster not available": the stream has no leader right now (JSClusterNotAvailErr). */
const NO_LEADER = 10008;

/** A try that another may mend: unanswered, or the stream between leaders. */
export function isPassing(err: unknown): boolean {
  return isUnanswered(err) || (err instanceof JetStreamApiError && err.code === NO_LEADER);
}

/** Bound on each store call, its tries together: past it the request is refused 503. */
export const OP_BOUND_MS = 2000;
/** Bound on one try (the store's KV handles and stream questions are opened with it). */
export const TRY_MS = OP_BOUND_MS / 2;
/**
 * A try refused at once (no responders, no leader) is sent again after this
 * (a hand-off elects the next leader within a second): here, and for a
 * followed copy's barrier (follow.ts).
 */
export const LEADERLESS_STEP_MS = 150;

/** Anything the store throws that is not ours becomes 503: never serve a guess. */
export function toApiError(err: unknown, what: string): ApiError {
  if (err instanceof ApiError) return err;
  return new UnavailableError(what, err);
}

/**
 * `once` tried until it is answered, for `boundMs` at most: a passing failure
 * is tried again (at once when its try used its bound, after
 * LEADERLESS_STEP_MS when it was refused at once); any other, or one past the
 * bound, becomes a 503 naming `what`. `once` must be safe to repeat.
 */
export async function untilAnswered<T>(what: string, once: () => Promise<T>, boundMs = OP_BOUND_MS): Promise<T> {
  const until = performance.now() + boundMs;
  for (;;) {
    const began = performance.now();
    try {
      return await once();
    } catch (err) {
      await beforeNextTry(err, what, began, until);
    }
  }
}

/**
 * After a try begun at `began` failed with `err`: a 503 naming `what` unless
 * the failure is passing, else the pause untilAnswered makes (LEADERLESS_STEP_MS
 * when the try was refused at once), then a 503 if `until` is past.
 */
export async function beforeNextTry(err: unknown, what: string, began: number, until: number): Promise<void> {
  if (!isPassing(err)) throw toApiError(err, what);
  if (performance.now() - began < LEADERLESS_STEP_MS) await sleep(LEADERLESS_STEP_MS);
  if (performance.now() >= until) throw toApiError(err, what);
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

export async function readJson<T>(kv: KV, key: string): Promise<Versioned<T> | null> {
  const e = await untilAnswered(`read ${key}`, () => kv.get(key));
  if (!e || e.operation !== 'PUT' || e.length === 0) return null;
  return { value: e.json<T>(), revision: e.revision };
}

/** Create-if-absent; false when the key already exists (a retried try of ours included: see the header). */
export async function createJson(kv: KV, key: string, value: unknown): Promise<number | false> {
  return untilAnswered(`create ${key}`, () =>
    kv.create(key, JSON.stringify(value)).catch((err: unknown) => {
      if (isCasConflict(err)) return false as const;
      throw err;
    }),
  );
}

/**
 * The value a create answered "already exists" found: read until the key
 * shows, within OP_BOUND_MS. The stream's leader refused the create because
 * the key is taken, yet a read right after may not see it: measured under
 * chaos (nats-server 2.15.1, the rooms stream's leader killed), a create whose
 * first try went in unanswered was refused on its retry by the next leader,
 * and the read that followed found nothing, so the request answered 409 for
 * its own room. Never showing within the bound is a 503: the key's state is
 * not known, never "someone else's".
 */
export async function readCreated<T>(kv: KV, key: string): Promise<Versioned<T>> {
  const until = performance.now() + OP_BOUND_MS;
  for (;;) {
    const found = await readJson<T>(kv, key);
    if (found) return found;
    if (performance.now() >= until) throw new UnavailableError(`${key}: its create was refused as taken, and it could not be read within ${OP_BOUND_MS} ms`);
    await sleep(LEADERLESS_STEP_MS);
  }
}

export async function putJson(kv: KV, key: string, value: unknown): Promise<number> {
  return untilAnswered(`write ${key}`, () => kv.put(key, JSON.stringify(value)));
}

/**
 * Read-modify-write with the revision as a guard, retried on conflict.
 * `change` returns the new value, or undefined for "no change needed".
 * A missing key is passed as null and created with create-if-absent.
 * A write that was not answered is judged again from a fresh read, within
 * OP_BOUND_MS of the first.
 * A conflict whose next read shows the same revision as before is a read
 * behind the leader's guard, not another writer: it is waited out (within
 * the bound) without spending a try. Measured under chaos on nats-server
 * 2.15.1 after a leader change: an add's members write lost all 8 tries
 * while one of them had gone in, and the request answered 409. Giving up
 * after such reads, or after a try nobody answered, is a 503 (the write may
 * be in); only writers seen changing the key make it a 409.
 */
export async function updateJson<T>(
  kv: KV,
  key: string,
  change: (current: T | null) => T | undefined,
  attempts = 8,
): Promise<T | null> {
  const until = performance.now() + OP_BOUND_MS;
  /** The revision the last conflicting try was made against. */
  let conflictedAt: number | undefined;
  let unknown = false;
  for (let i = 0; i < attempts; ) {
    const cur = await readJson<T>(kv, key);
    const next = change(cur ? cur.value : null);
    if (next === undefined) return cur ? cur.value : null;
    const began = performance.now();
    const rev = cur?.revision ?? 0;
    try {
      if (cur) await kv.update(key, JSON.stringify(next), cur.revision, TRY_MS);
      else await kv.create(key, JSON.stringify(next));
      return next;
    } catch (err) {
      if (isCasConflict(err)) {
        if (rev === conflictedAt) {
          unknown = true;
          if (performance.now() < until) {
            await sleep(LEADERLESS_STEP_MS);
            continue;
          }
        }
        conflictedAt = rev;
        i++;
        continue;
      }
      if (isPassing(err)) unknown = true;
      await beforeNextTry(err, `update ${key}`, began, until);
    }
  }
  if (unknown) throw new UnavailableError(`update ${key}: its reads did not reach the leader's revision, or a try went unanswered, within ${OP_BOUND_MS} ms`);
  throw new ApiError('conflict', `too many concurrent changes to ${key}; retry`);
}

/** What a nats.js bucket holds beside its KV methods (public members of its Bucket class). */
interface BucketParts {
  jsm: JetStreamManager;
  stream: string;
  /** `$KV.<bucket>`: a key's subject is `<prefix>.<key>`. */
  prefix: string;
}

/**
 * Every key of the bucket, sorted, as its stream's leader holds it: the
 * subjects of one STREAM.INFO with a subject filter (nats.js pages a long
 * answer), not a listing by consumer. kv.keys() makes an ordered push
 * consumer that nats.js leaves to expire (inactive_threshold 300 s,
 * measured with nats-server 2.15.1: 100 listings left 100 consumers 40 s
 * later), and each consumer made and removed is a proposal to the meta
 * group: a 300 s combined chaos run's allow list rebuilds (two listings per
 * node per user change) held 239 to 1,145 consumers in the meta group. A
 * consumer may also be placed on a replica that is behind; STREAM.INFO is
 * answered by the leader. A deleted key's subject holds its delete marker,
 * so a deleted key is listed too: every caller reads each key it lists and
 * skips one that reads as absent.
 */
export async function listKeys(kv: KV): Promise<string[]> {
  const b = kv as unknown as BucketParts;
  const at = b.prefix.length + 1;
  return untilAnswered('list keys', async () => {
    const si = await b.jsm.streams.info(b.stream, { subjects_filter: `${b.prefix}.>` });
    return Object.keys(si.state.subjects ?? {})
      .map((s) => s.slice(at))
      .sort();
  });
}
