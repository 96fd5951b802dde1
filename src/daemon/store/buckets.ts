// Opening the control plane's JetStream state: six KV buckets and one object store.
//
// Consistent reads: every bucket is created with allow_direct=false and opened
// with allow_direct=false, so `kv.get` goes through $JS.API.STREAM.MSG.GET,
// which only the stream's RAFT leader answers. The leader acknowledges a write
// only after it is committed and applied, so a write acknowledged through any
// node is visible to a read through any other node right after. Direct get
// would let a lagging (or partitioned) replica answer with old data.
// membershipd reads users and members, which every signed request needs, from
// local copies under a leader barrier instead (store/follow.ts), with the same
// guarantee.
import type { NatsConnection } from '@nats-io/nats-core';
import { nanos } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { attemptTimeoutMs } from '../nats/connect.js';
import type { FollowedBuckets } from './follow.js';
import { BLOB_STORE, BUCKETS, CONTROL_STREAMS, NONCE_STREAM, type BucketId } from './names.js';
import { OP_BOUND_MS, TRY_MS } from './kvjson.js';

export { BLOB_STORE, BUCKETS, CONTROL_STREAMS, NONCE_STREAM, type BucketId } from './names.js';

/**
 * Nonces live NONCE_TTL_MS in their bucket; a request is accepted only within
 * NONCE_WINDOW_MS of its timestamp, by the serving node's clock. A nonce
 * claimed at t carries a timestamp of at most t + window, so it can be replayed
 * until t + 2 * window at the latest: the TTL is twice the window plus 30 s
 * for clocks that differ between nodes, and a nonce that could still be
 * accepted is always still in the bucket.
 * Memory bound: at R signed requests/s the bucket holds R * 150 live keys on
 * every node. bench/api-writes.ts measures each key at 129-147 bytes stored
 * and at most 631 bytes of nats-server RSS on disk, 582 in memory (Go's GC
 * headroom included). At 1,210 req/s, the highest rate measured on the
 * 3-node loopback bench (nonces in memory), that is 181,500 keys and about
 * 106 MB per node. The TTL, not the request rate, is the lever: halving it
 * halves the bound.
 */
export const NONCE_WINDOW_MS = 60_000;
export const NONCE_TTL_MS = 2 * NONCE_WINDOW_MS + 30_000;

/** Where an operator asks nonces to be kept (cluster.nonce_store, --nonce-store). */
export type NonceStore = 'disk' | 'memory';
export const isNonceStore = (v: string): v is NonceStore => v === 'disk' || v === 'memory';

/**
 * The nonce stream's storage: on disk by default. `memory` (opt-in, R3 or
 * more only) claims nonces without a disk flush, trading the newest nonces of
 * a crash of most replicas at once for speed (store/nonce-history.ts).
 */
export function nonceStorage(replicas: number, store: NonceStore = 'disk'): 'memory' | 'file' {
  return store === 'memory' && replicas >= 3 ? 'memory' : 'file';
}

/** The nonce bucket's options, wherever it is made (membershipd, scale-r3, the bench). */
export function nonceBucketOptions(replicas: number, store: NonceStore = 'disk') {
  return { replicas, history: 1, allow_direct: false, ttl: NONCE_TTL_MS, storage: nonceStorage(replicas, store) } as const;
}

export interface StoreOptions {
  /** Replicas of every bucket (1 for a single node, 3 for an R3 cluster). */
  replicas: number;
  /** Bind only (operator tools): never create buckets. */
  bindOnly?: boolean;
  /** Bound on each stream create (or lookup) while opening; defaults to OP_BOUND_MS. */
  createTimeoutMs?: number;
  /** Where a nonce bucket made now keeps its nonces (default disk); an existing one is moved only by scale-r3. */
  nonceStore?: NonceStore;
}

export interface Store {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kv: Record<BucketId, KV>;
  blobs: ObjectStore;
  replicas: number;
  opTimeoutMs: number;
  /** Local copies of the users and members buckets (store/follow.ts); absent: every read asks the leader. */
  follow?: FollowedBuckets;
}

export async function openStore(nc: NatsConnection, opts: StoreOptions): Promise<Store> {
  // Each try is bounded by TRY_MS; the store's calls try again within OP_BOUND_MS (kvjson.ts).
  const timeout = OP_BOUND_MS;
  const js = jetstream(nc, { timeout: TRY_MS });
  const jsm = await jetstreamManager(nc, { timeout: TRY_MS });
  const entries = Object.entries(BUCKETS) as [BucketId, string][];
  if (!opts.bindOnly) {
    // The buckets are independent streams: asking for them together lets the
    // meta leader place them in one round instead of seven (a cold start waits
    // on this). Creating has its own bound: on a cold start a create can go
    // unanswered, and a retry (creates are idempotent) beats a long wait.
    const createTimeout = opts.createTimeoutMs ?? timeout;
    const cjs = jetstream(nc, { timeout: createTimeout });
    const kvc = new Kvm(cjs);
    await Promise.all([
      ...entries.map(([id, name]) =>
        kvc.create(name, id === 'nonces' ? nonceBucketOptions(opts.replicas, opts.nonceStore) : { replicas: opts.replicas, history: 1, allow_direct: false }),
      ),
      new Objm(cjs).create(BLOB_STORE, { replicas: opts.replicas }),
    ]);
    // A create retried after a timeout can find its stream placed but still
    // electing: the store is open once every stream has a leader.
    const cjsm = await jetstreamManager(nc, { timeout: createTimeout });
    const infos = await Promise.all(CONTROL_STREAMS.map((n) => cjsm.streams.info(n)));
    const leaderless = infos.filter((i) => i.cluster && !i.cluster.leader).map((i) => i.config.name);
    if (leaderless.length) throw new Error(`no leader yet for ${leaderless.join(', ')}`);
    // A nonce bucket made with another TTL (an earlier release kept nonces
    // 300 s) gets this one: opening a bucket never changes its config.
    const nonces = infos.find((i) => i.config.name === NONCE_STREAM);
    if (nonces && nonces.config.max_age !== nanos(NONCE_TTL_MS)) {
      await cjsm.streams.update(nonces.config.name, { max_age: nanos(NONCE_TTL_MS) });
    }
  }
  // Handles for use bind to the streams with the operations' own bound.
  const kvm = new Kvm(js);
  const handles = await Promise.all(entries.map(([, name]) => kvm.open(name, { allow_direct: false, timeout: TRY_MS })));
  // Operator tools (bindOnly) check that the blob store exists; after a create it does.
  const blobs = await new Objm(js).open(BLOB_STORE, !!opts.bindOnly);
  const kv = Object.fromEntries(entries.map(([id], i) => [id, handles[i]!])) as Record<BucketId, KV>;
  return { nc, js, jsm, kv, blobs, replicas: opts.replicas, opTimeoutMs: timeout };
}

/**
 * Opens the store, retrying with short attempts until `budgetMs` runs out: on a
 * cold multi-node start the meta group needs a moment before streams can be made.
 */
export async function openStoreWithRetry(
  nc: NatsConnection,
  opts: StoreOptions,
  budgetMs = 120_000,
  /** Told of each failed attempt before the next (the daemon logs them). */
  onRetry?: (err: Error, attempt: number) => void,
): Promise<Store> {
  const until = Date.now() + budgetMs;
  for (let attempt = 1; ; attempt++) {
    try {
      // A short first bound, then longer ones (as openBucketWithRetry does):
      // an unanswered create is retried soon, a slow but real one gets its time.
      return await openStore(nc, { createTimeoutMs: attemptTimeoutMs(attempt - 1), ...opts });
    } catch (err) {
      if (Date.now() > until) throw err;
      onRetry?.(err as Error, attempt);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
