// Opening the control plane's JetStream state: six KV buckets and one object store.
//
// Consistent reads: every bucket is created with allow_direct=false and opened
// with allow_direct=false, so `kv.get` goes through $JS.API.STREAM.MSG.GET,
// which only the stream's RAFT leader answers. The leader acknowledges a write
// only after it is committed and applied, so a write acknowledged through any
// node is visible to a read through any other node right after. Direct get
// would let a lagging (or partitioned) replica answer with old data.
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';

export const BUCKETS = {
  users: 'UNIBUS_users',
  rooms: 'UNIBUS_rooms',
  members: 'UNIBUS_members',
  roomKeys: 'UNIBUS_room_keys',
  roomsByMember: 'UNIBUS_rooms_by_member',
  nonces: 'UNIBUS_nonces',
} as const;
export type BucketId = keyof typeof BUCKETS;
export const BLOB_STORE = 'UNIBUS_blobs';

/** Stream names behind the buckets (what /jsz and /healthz report on). */
export const CONTROL_STREAMS: string[] = [...Object.values(BUCKETS).map((b) => `KV_${b}`), `OBJ_${BLOB_STORE}`];

/**
 * Nonces live NONCE_TTL_MS in their bucket; a request is accepted only within
 * NONCE_WINDOW_MS of its timestamp. The window is shorter than the TTL, so a
 * nonce that could still be accepted is always still in the bucket.
 * Memory bound: at R signed requests/s the bucket holds R * 300 live keys of
 * about 150-250 bytes each (key, value, headers, index) on every node. The
 * highest rate measured on the 3-node loopback bench (bench/api-writes.ts) was
 * about 200 req/s: 60,000 keys, roughly 15 MB per node. The TTL, not the
 * request rate, is the lever: halving it halves the bound.
 */
export const NONCE_WINDOW_MS = 60_000;
export const NONCE_TTL_MS = 300_000;

export interface StoreOptions {
  /** Replicas of every bucket (1 for a single node, 3 for an R3 cluster). */
  replicas: number;
  /** Bound on every KV/object operation: past it the request is refused 503. */
  opTimeoutMs?: number;
  /** Bind only (operator tools): never create buckets. */
  bindOnly?: boolean;
}

export interface Store {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kv: Record<BucketId, KV>;
  blobs: ObjectStore;
  replicas: number;
  opTimeoutMs: number;
}

export async function openStore(nc: NatsConnection, opts: StoreOptions): Promise<Store> {
  const timeout = opts.opTimeoutMs ?? 2000;
  const js = jetstream(nc, { timeout });
  const jsm = await jetstreamManager(nc, { timeout });
  const kvm = new Kvm(js);
  // The buckets are independent streams: asking for them together lets the
  // meta leader place them in one round instead of seven (a cold start waits on this).
  const entries = Object.entries(BUCKETS) as [BucketId, string][];
  const objm = new Objm(js);
  const [handles, blobs] = await Promise.all([
    Promise.all(
      entries.map(([id, name]) => {
        const base = { replicas: opts.replicas, history: 1, allow_direct: false, timeout };
        const ttl = id === 'nonces' ? { ttl: NONCE_TTL_MS } : {};
        return opts.bindOnly ? kvm.open(name, { allow_direct: false, timeout }) : kvm.create(name, { ...base, ...ttl });
      }),
    ),
    opts.bindOnly ? objm.open(BLOB_STORE) : objm.create(BLOB_STORE, { replicas: opts.replicas }),
  ]);
  const kv = Object.fromEntries(entries.map(([id], i) => [id, handles[i]!])) as Record<BucketId, KV>;
  return { nc, js, jsm, kv, blobs, replicas: opts.replicas, opTimeoutMs: timeout };
}

/**
 * Opens the store, retrying with short attempts until `budgetMs` runs out: on a
 * cold multi-node start the meta group needs a moment before streams can be made.
 */
export async function openStoreWithRetry(nc: NatsConnection, opts: StoreOptions, budgetMs = 120_000): Promise<Store> {
  const until = Date.now() + budgetMs;
  for (;;) {
    try {
      return await openStore(nc, opts);
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
