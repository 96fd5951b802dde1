// A node's clock against the cluster's.
//
// A signed request is fresh when its timestamp is within NONCE_WINDOW_MS
// (60 s) of the serving node's clock, and its nonce is kept NONCE_TTL_MS
// (150 s) by the stream leader's clock. A node whose clock is off by more
// than the difference (90 s) would take a request captured once its nonce
// has expired, yet whose timestamp still looks fresh to it: a replay. So
// each node measures its own skew and refuses signed requests (503
// clock_skew, and /healthz says why) while it is larger than
// CLOCK_SKEW_MAX_MS.
//
// The measure: every CLOCK_PERIOD_MS a node writes `clock.<node>` into the
// health bucket with its own time; JetStream stamps the stored message with
// the stream leader's time. Its own sample is bracketed by the put's start
// and its acknowledgment; each other node's entry gives that node's time
// against the same leader. A node's skew is its offset minus the median of
// every fresh offset, so that one wrong clock, even the leader's, is named
// as the odd one out rather than making every other node refuse.
//
// The other nodes' entries are found from the stream's subject counts (one
// STREAM.INFO with a subject filter), not by listing the bucket's keys: a
// listing is an ordered consumer, and each consumer made and removed is a
// proposal to the meta group. Three nodes listing every 5 s kept a meta group
// busy that had fallen behind after a damaged copy led (a combined chaos
// run: "Consumer assignment ... not cleaned up, retrying" for the health
// bucket, then "JetStream API queue limit reached").
//
// Invariants:
// - A node without a measure (first round pending, no quorum to write) is
//   not refused for its clock: the quorum guard refuses it already when the
//   writes fail, and a node that cannot compare has nothing to say.
// - Alone (one node, or no other fresh entry) a node only compares against
//   the leader, itself on a single node: skew 0.
import type { KV } from '@nats-io/kv';
import type { JetStreamManager } from '@nats-io/jetstream';
import { ApiError } from '../../protocol/errors.js';

/**
 * Refusal bound. NTP keeps clocks within milliseconds; 10 s leaves a wide
 * margin for a slow write (a sample's uncertainty is half its put's round
 * trip) and stays far under the 90 s at which replays become possible.
 */
export const CLOCK_SKEW_MAX_MS = 10_000;
/** How often a node writes its clock: a skew shows within this, plus a write. */
export const CLOCK_PERIOD_MS = 5000;
/** Entries older than this (leader time) are from nodes gone quiet: not counted. */
export const CLOCK_FRESH_MS = 30_000;

export const CLOCK_KEY_PREFIX = 'clock.';

export interface ClockSample {
  node: string;
  /** The node's time minus the leader's, ms. */
  offsetMs: number;
  /** The leader's time of the sample. */
  at: number;
}

export type ClockState =
  | { ok: true; skewMs: number | null; peers: number }
  | { ok: false; skewMs: number; peers: number; reason: string };

/** Writes this node's clock and reads it back: its offset to the leader, bracketed by the put's round trip. */
export async function recordClock(kv: KV, node: string, now: () => number): Promise<ClockSample> {
  const t0 = now();
  await kv.put(`${CLOCK_KEY_PREFIX}${node}`, JSON.stringify({ node, wall: t0 }));
  const t1 = now();
  const e = await kv.get(`${CLOCK_KEY_PREFIX}${node}`);
  if (!e) throw new Error(`clock entry of ${node} not found right after its write`);
  const at = e.created.getTime();
  return { node, offsetMs: (t0 + t1) / 2 - at, at };
}

/** The clock entries' keys of bucket `bucket`, from its stream's subject counts (no consumer). */
export async function listClockKeys(jsm: JetStreamManager, bucket: string): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  const si = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${CLOCK_KEY_PREFIX}>` });
  return Object.keys(si.state.subjects ?? {}).map((s) => s.slice(prefix.length));
}

/** The other nodes' latest clock entries among `keys`, fresh within CLOCK_FRESH_MS of `leaderNow`. */
export async function readPeerClocks(kv: KV, keys: string[], self: string, leaderNow: number): Promise<ClockSample[]> {
  const out: ClockSample[] = [];
  for (const k of keys) {
    if (!k.startsWith(CLOCK_KEY_PREFIX)) continue;
    const node = k.slice(CLOCK_KEY_PREFIX.length);
    if (node === self) continue;
    const e = await kv.get(k);
    if (!e || e.operation !== 'PUT') continue;
    const at = e.created.getTime();
    if (leaderNow - at > CLOCK_FRESH_MS) continue;
    const wall = (e.json() as { wall?: unknown }).wall;
    if (typeof wall === 'number') out.push({ node, offsetMs: wall - at, at });
  }
  return out;
}

/** This node's skew: its offset minus the median offset of all (itself included). */
export function skewOf(self: ClockSample, peers: ClockSample[]): number {
  const all = [self.offsetMs, ...peers.map((p) => p.offsetMs)].sort((a, b) => a - b);
  const mid = all.length / 2;
  const median = all.length % 2 ? all[Math.floor(mid)]! : (all[mid - 1]! + all[mid]!) / 2;
  return self.offsetMs - median;
}

export function judgeSkew(skewMs: number, peers: number): ClockState {
  if (Math.abs(skewMs) <= CLOCK_SKEW_MAX_MS) return { ok: true, skewMs, peers };
  const s = (Math.abs(skewMs) / 1000).toFixed(1);
  return {
    ok: false,
    skewMs,
    peers,
    reason: `clock skew: this node's clock is ${s} s ${skewMs < 0 ? 'behind' : 'ahead of'} the cluster's (median of ${peers + 1} nodes; bound ${CLOCK_SKEW_MAX_MS / 1000} s): signed requests refused until it is set right`,
  };
}

/** Measures the node's skew every CLOCK_PERIOD_MS; asserts it while serving. */
export class ClockWatch {
  #state: ClockState = { ok: true, skewMs: null, peers: 0 };
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  constructor(
    private readonly kv: KV,
    /** The clock entries' keys (listClockKeys). */
    private readonly listKeys: () => Promise<string[]>,
    private readonly node: string,
    private readonly now: () => number = Date.now,
    private readonly log: (line: string) => void = () => undefined,
    private readonly periodMs = CLOCK_PERIOD_MS,
  ) {}

  start(): void {
    void this.measure();
    this.#timer = setInterval(() => void this.measure(), this.periodMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  get state(): ClockState {
    return this.#state;
  }

  /** One measure; a failed write leaves the last state (the quorum guard speaks for a cluster that cannot write). */
  async measure(): Promise<ClockState> {
    if (this.#busy) return this.#state;
    this.#busy = true;
    try {
      const self = await recordClock(this.kv, this.node, this.now);
      const peers = await readPeerClocks(this.kv, await this.listKeys(), this.node, self.at);
      const next = judgeSkew(skewOf(self, peers), peers.length);
      if (next.ok !== this.#state.ok) this.log(next.ok ? `clock: within ${CLOCK_SKEW_MAX_MS / 1000} s of the cluster's again (skew ${Math.round(next.skewMs ?? 0)} ms)` : next.reason);
      this.#state = next;
    } catch {
      // no quorum or no leader: measured again next period
    } finally {
      this.#busy = false;
    }
    return this.#state;
  }

  /** Throws 503 clock_skew while the last measure said the clock is off. */
  assertSane(): void {
    if (!this.#state.ok) throw new ApiError('clock_skew', this.#state.reason);
  }
}
