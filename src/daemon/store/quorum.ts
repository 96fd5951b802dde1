// Fail closed without quorum.
//
// The proof that the cluster can serve is a write: every authenticated request
// first claims its nonce with create-if-absent, a RAFT-committed write at the
// stream leader, bounded by the op timeout. Without quorum it cannot commit, so
// nothing is served from stale state. The guard below only makes the refusal
// fast: it polls stream info (answered by the stream leader) and, while the
// last poll said "no quorum", refuses at once instead of waiting for a timeout.
// A positive poll never lets a request skip its nonce write.
import { jetstreamManager, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import type { Store } from './buckets.js';
import { NONCE_STREAM } from './buckets.js';
import { UnavailableError } from '../../protocol/errors.js';

export type QuorumState = { ok: true } | { ok: false; reason: string };

/** A replica the leader has not heard from for this long does not count toward quorum (RAFT heartbeats come every second when idle). */
export const PEER_SILENCE_NS = 3_000_000_000;

type ClusterView = NonNullable<StreamInfo['cluster']>;

/**
 * Pure: quorum as the nonce stream's leader reports it. `seenLeader` is the
 * leader the previous look found: a leader elected since then reports, for
 * the followers, when it last heard from them as a follower or as an earlier
 * leader (measured on the lab: in a graceful restart's hand-off the new leader
 * listed its one live follower as silent, and 2 requests were refused in the
 * 0.1 s before its first heartbeat came back). So silence counts only under a
 * leader seen before; a new one is judged by `current` alone, which
 * nats-server itself drops after 10 s of silence.
 */
export function judgeQuorum(c: ClusterView | undefined, replicas: number, seenLeader: string | undefined): QuorumState {
  if (replicas <= 1) return { ok: true };
  if (!c?.leader) return { ok: false, reason: 'no stream leader' };
  const trustSilence = c.leader === seenLeader;
  // `current` stays true for seconds after a peer dies; `active` (time since the
  // leader last heard from it) shows the loss at once.
  const current = 1 + (c.replicas ?? []).filter((p) => p.current && !p.offline && (!trustSilence || (p.active ?? 0) < PEER_SILENCE_NS)).length;
  if (current * 2 <= replicas) return { ok: false, reason: `${current} of ${replicas} replicas current` };
  return { ok: true };
}

/**
 * Looks in a row that must find no quorum, and over how long, before the
 * guard refuses on its own. One look between two leaders of a hand-off (no
 * leader for a moment, or the old leader's answer timing out) is not quorum
 * lost: measured on play restart's rolling restarts, such single looks
 * refused requests on the nodes that stayed up that the nonce claim would
 * have served a few hundred ms later. Nor are two looks a few ms apart (a
 * failed store call asks for a look at once, suspect()): a local graceful
 * restart's hand-off had the new leader list its one live follower as not
 * current for two such looks, and a read on a node that stayed up was
 * refused. A request that truly finds no quorum is still refused by its
 * claim within the op bound; the guard only makes that fast.
 */
export const TRIP_AFTER = 2;
export const TRIP_SPAN_MS = 1000;

/** Looks in a row that saw no quorum, and when the first of them was. */
export interface Misses {
  count: number;
  since: number;
}

/** Pure: the guard's state after a look at `now` that saw `seen`, with the misses in a row before it. */
export function tripGuard(prev: QuorumState, seen: QuorumState, m: Misses, now: number): { state: QuorumState; misses: Misses } {
  if (seen.ok) return { state: seen, misses: { count: 0, since: 0 } };
  const misses = { count: m.count + 1, since: m.count ? m.since : now };
  return { state: misses.count >= TRIP_AFTER && now - misses.since >= TRIP_SPAN_MS ? seen : prev, misses };
}

/** One bounded look at the nonce stream: a leader and a majority current and recently heard from. */
export async function checkQuorum(jsm: JetStreamManager, replicas: number, seenLeader?: string): Promise<{ state: QuorumState; leader?: string }> {
  try {
    const si = await jsm.streams.info(NONCE_STREAM);
    return { state: judgeQuorum(si.cluster, replicas, seenLeader), leader: si.cluster?.leader || undefined };
  } catch (err) {
    return { state: { ok: false, reason: `stream info failed: ${(err as Error).message}` } };
  }
}

export class QuorumGuard {
  #state: QuorumState = { ok: true };
  #timer: NodeJS.Timeout | undefined;
  #jsm: JetStreamManager | undefined;
  #polling = false;
  /** The nonce stream's leader at the last poll. */
  #leader: string | undefined;
  /** Polls in a row that saw no quorum. */
  #misses: Misses = { count: 0, since: 0 };
  constructor(
    private readonly store: Store,
    private readonly intervalMs = 500,
  ) {}

  async start(): Promise<void> {
    this.#jsm = await jetstreamManager(this.store.nc, { timeout: 1000 });
    await this.poll();
    this.#timer = setInterval(() => void this.poll(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async poll(): Promise<QuorumState> {
    if (!this.#jsm || this.#polling) return this.#state;
    this.#polling = true;
    try {
      const { state, leader } = await checkQuorum(this.#jsm, this.store.replicas, this.#leader);
      ({ state: this.#state, misses: this.#misses } = tripGuard(this.#state, state, this.#misses, performance.now()));
      this.#leader = leader;
    } finally {
      this.#polling = false;
    }
    return this.#state;
  }

  /** A store operation just failed for want of quorum: look again now rather than at the next tick. */
  suspect(): void {
    void this.poll();
  }

  get state(): QuorumState {
    return this.#state;
  }

  /** Throws 503 at once while the polls of the last TRIP_SPAN_MS (TRIP_AFTER at least) saw no quorum. */
  assertNotLost(): void {
    if (!this.#state.ok) throw new UnavailableError(this.#state.reason);
  }
}
