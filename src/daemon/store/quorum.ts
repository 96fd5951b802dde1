// Fail closed without quorum.
//
// The proof that the cluster can serve is a write: every authenticated request
// first claims its nonce with create-if-absent, a RAFT-committed write at the
// stream leader, bounded by the op timeout. Without quorum it cannot commit, so
// nothing is served from stale state. The guard below only makes the refusal
// fast: it polls stream info (answered by the stream leader) and, while the
// last poll said "no quorum", refuses at once instead of waiting for a timeout.
// A positive poll never lets a request skip its nonce write.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { Store } from './buckets.js';
import { NONCE_STREAM } from './buckets.js';
import { UnavailableError } from '../../protocol/errors.js';

export type QuorumState = { ok: true } | { ok: false; reason: string };

/** A replica the leader has not heard from for this long does not count toward quorum (RAFT heartbeats come every second when idle). */
export const PEER_SILENCE_NS = 3_000_000_000;

/** One bounded look at the nonce stream: a leader and a majority current and recently heard from. */
export async function checkQuorum(jsm: JetStreamManager, replicas: number): Promise<QuorumState> {
  try {
    const si = await jsm.streams.info(NONCE_STREAM);
    if (replicas <= 1) return { ok: true };
    const c = si.cluster;
    if (!c?.leader) return { ok: false, reason: 'no stream leader' };
    // `current` stays true for seconds after a peer dies; `active` (time since the
    // leader last heard from it) shows the loss at once.
    const current = 1 + (c.replicas ?? []).filter((p) => p.current && !p.offline && (p.active ?? 0) < PEER_SILENCE_NS).length;
    if (current * 2 <= replicas) return { ok: false, reason: `${current} of ${replicas} replicas current` };
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `stream info failed: ${(err as Error).message}` };
  }
}

export class QuorumGuard {
  #state: QuorumState = { ok: true };
  #timer: NodeJS.Timeout | undefined;
  #jsm: JetStreamManager | undefined;
  #polling = false;
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
      this.#state = await checkQuorum(this.#jsm, this.store.replicas);
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

  /** Throws 503 at once while the last poll saw no quorum. */
  assertNotLost(): void {
    if (!this.#state.ok) throw new UnavailableError(this.#state.reason);
  }
}
