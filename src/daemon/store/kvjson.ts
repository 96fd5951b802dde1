// JSON values in KV with bounded, fail-closed error handling and compare-and-set.
//
// A write whose answer never came (its stream's leader handed off with it in
// flight: measured on play restart's rolling restarts, a few writes each on
// the nodes that stayed up) is sent once more: an update reads and changes
// again (every change given to updateJson is idempotent, so a first try that
// did land is found, not repeated), a create that then finds its key taken
// answers false as for any taken key (its callers tell their own write by
// its content), and a put writes the same value again. Each try of an
// update is bounded by WRITE_TRY_MS, so both fit in the 2 s op bound.
import type { KV } from '@nats-io/kv';
import { JetStreamApiError } from '@nats-io/jetstream';
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

/** How many times a write is sent when no answer came; each update's try is bounded by WRITE_TRY_MS. */
export const WRITE_TRIES = 2;
export const WRITE_TRY_MS = 1000;

/** Anything the store throws that is not ours becomes 503: never serve a guess. */
export function toApiError(err: unknown, what: string): ApiError {
  if (err instanceof ApiError) return err;
  return new UnavailableError(what, err);
}

export interface Versioned<T> {
  value: T;
  revision: number;
}

/** JetStream's "cluster not available": the stream has no leader right now (JSClusterNotAvailErr). */
const NO_LEADER = 10008;
/**
 * How long a read waits out a stream without a leader, asking again every
 * LEADERLESS_STEP_MS (a hand-off elects the next leader within a second):
 * here, and for a followed copy's barrier (follow.ts).
 */
export const LEADERLESS_WAIT_MS = 1000;
export const LEADERLESS_STEP_MS = 150;

export async function readJson<T>(kv: KV, key: string): Promise<Versioned<T> | null> {
  let e;
  for (const until = performance.now() + LEADERLESS_WAIT_MS; ; ) {
    try {
      e = await kv.get(key);
      break;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === NO_LEADER) || performance.now() >= until) throw toApiError(err, `read ${key}`);
      await sleep(LEADERLESS_STEP_MS);
    }
  }
  if (!e || e.operation !== 'PUT' || e.length === 0) return null;
  return { value: e.json<T>(), revision: e.revision };
}

/** Create-if-absent; false when the key already exists. */
export async function createJson(kv: KV, key: string, value: unknown): Promise<number | false> {
  for (let i = 1; ; i++) {
    try {
      return await kv.create(key, JSON.stringify(value));
    } catch (err) {
      if (isCasConflict(err)) return false;
      if (i >= WRITE_TRIES || !isUnanswered(err)) throw toApiError(err, `create ${key}`);
    }
  }
}

export async function putJson(kv: KV, key: string, value: unknown): Promise<number> {
  for (let i = 1; ; i++) {
    try {
      return await kv.put(key, JSON.stringify(value));
    } catch (err) {
      if (i >= WRITE_TRIES || !isUnanswered(err)) throw toApiError(err, `write ${key}`);
    }
  }
}

/**
 * Read-modify-write with the revision as a guard, retried on conflict.
 * `change` returns the new value, or undefined for "no change needed".
 * A missing key is passed as null and created with create-if-absent.
 */
export async function updateJson<T>(
  kv: KV,
  key: string,
  change: (current: T | null) => T | undefined,
  attempts = 8,
): Promise<T | null> {
  let unanswered = 0;
  for (let i = 0; i < attempts; i++) {
    const cur = await readJson<T>(kv, key);
    const next = change(cur ? cur.value : null);
    if (next === undefined) return cur ? cur.value : null;
    try {
      if (cur) await kv.update(key, JSON.stringify(next), cur.revision, WRITE_TRY_MS);
      else await kv.create(key, JSON.stringify(next));
      return next;
    } catch (err) {
      if (isCasConflict(err)) continue;
      if (!isUnanswered(err) || ++unanswered >= WRITE_TRIES) throw toApiError(err, `update ${key}`);
    }
  }
  throw new ApiError('conflict', `too many concurrent changes to ${key}; retry`);
}

export async function listKeys(kv: KV): Promise<string[]> {
  try {
    const out: string[] = [];
    for await (const k of await kv.keys()) out.push(k);
    return out.sort();
  } catch (err) {
    throw toApiError(err, 'list keys');
  }
}
