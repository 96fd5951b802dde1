// When to restart a nats-server child that its stream leaders keep seeing as
// behind. nats-server 2.10.27 can come back from a restart (its own or a
// peer's) with every route up and a meta leader known, yet with its raft
// traffic unheard: the leaders report it not current, its lag never shrinks,
// and no log line says why. Seen on the lab after rolling restarts and after
// a whole-cluster stop and start; restarting that one child clears it within
// seconds. The same release once kept one lab node without any meta leader
// for minutes after a peer's restart, while its routes to every peer were up
// and the other nodes agreed on a leader; that is restarted too, when its
// peers are heard talking. After a stop and start of all three lab nodes, no
// node knew a meta leader for minutes, every route up and talking: there it
// is the only stall that counts before the node's first write. Pure: node.ts
// feeds it what /healthz and the monitor saw, so it is unit-tested.

/**
 * Reasons that mean "the leaders answer, and do not count this node current":
 * from /healthz's leader views, or nats-server's own meta-group check (which
 * is what leaves a node unplaceable while its streams are still R1).
 */
export const META_NOT_CURRENT = /not current with the meta leader/;
export const STALL_REASON = new RegExp(`sees this node (behind|offline)|does not list this node|${META_NOT_CURRENT.source}`);
/** /healthz's reason when this node knows no meta leader at all. */
export const NO_META_LEADER = /no JetStream meta leader known/;

export interface StallObservation {
  ok: boolean;
  reason?: string;
  /** Routes to every other node of the meta group are up (a peer really down is never this case). */
  peersRouted: boolean;
  /**
   * Some peer was heard on a route lately (RouteTalk). Asked only when no
   * meta leader is known: peers that talk to this node and still lead it
   * nowhere point at this node; frozen or cut-off peers (whose routes stay
   * listed until pings time out) fall silent, and a restart would not help.
   */
  peersHeard?: boolean;
  /**
   * False until the node's first replicated write (default true). Before it,
   * only knowing no meta leader counts: a whole cluster started together can
   * sit that way with every node routed and talking, and then none of them
   * ever becomes ready. Other trouble is part of starting.
   */
  ready?: boolean;
}

export class StallWatch {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #calmMs: number;
  #waitMs: number;
  #since: number | null = null;
  #okSince: number | null = null;

  /**
   * @param baseMs how long a stall lasts before the first restart
   * @param maxMs the longest wait, however often restarts did not help (doubling)
   * @param calmMs healthy this long, the wait goes back to baseMs
   */
  constructor(baseMs = 30_000, maxMs = 300_000, calmMs = 600_000) {
    this.#baseMs = baseMs;
    this.#maxMs = maxMs;
    this.#calmMs = calmMs;
    this.#waitMs = baseMs;
  }

  /** The current wait before a restart (doubles after each restart). */
  get waitMs(): number {
    return this.#waitMs;
  }

  /**
   * A child another part restarted (the replica audit's rebuild, the runaway
   * watch): its stall, if any, is a new one, waited for from the base again.
   * The doubling is for restarts of this watch's own that did not help: kept
   * across the audit's restart, a node that came back unheard after a rebuild
   * waited 60 s, and a local chaos run's 120 s bound ran out.
   */
  rearm(): void {
    this.#since = null;
    this.#waitMs = this.#baseMs;
  }

  /** Returns why the child should be restarted now, or null. */
  observe(o: StallObservation, now: number): string | null {
    if (o.ok) {
      this.#since = null;
      this.#okSince ??= now;
      if (now - this.#okSince >= this.#calmMs) this.#waitMs = this.#baseMs;
      return null;
    }
    this.#okSince = null;
    const reason = o.reason ?? '';
    const leaderless = NO_META_LEADER.test(reason);
    const counts = o.ready !== false || leaderless;
    const stalled = counts && o.peersRouted && (leaderless ? o.peersHeard === true : STALL_REASON.test(reason));
    if (!stalled) {
      // Another kind of trouble (no quorum, a peer down or silent, stream
      // leaders silent): a restart here would only add churn.
      this.#since = null;
      return null;
    }
    this.#since ??= now;
    if (now - this.#since < this.#waitMs) return null;
    const waited = this.#waitMs;
    this.#since = null;
    // A large catch-up can be slow yet real: each further restart waits twice as long.
    this.#waitMs = Math.min(this.#waitMs * 2, this.#maxMs);
    const s = Math.round(waited / 1000);
    if (leaderless) return `no meta leader known for ${s} s while every peer is routed and talking`;
    return `not counted current by its leaders for ${s} s with every peer routed (${o.reason})`;
  }
}

/**
 * Whether the peers were heard lately: fed the messages received on all
 * routes (see routeInMsgs) at each look, it says whether that count moved
 * within the last `withinMs`. A node without a meta leader campaigns every
 * few seconds and live peers answer; frozen or cut-off peers answer nothing.
 */
export class RouteTalk {
  readonly #withinMs: number;
  #last: { n: number; movedAt: number } | null = null;

  constructor(withinMs = 15_000) {
    this.#withinMs = withinMs;
  }

  observe(inMsgs: number, now: number): boolean {
    const movedAt = this.#last && inMsgs !== this.#last.n ? now : (this.#last?.movedAt ?? -Infinity);
    this.#last = { n: inMsgs, movedAt };
    return now - movedAt <= this.#withinMs;
  }

  /** Forget the count (the node is healthy again; the next trouble starts afresh). */
  reset(): void {
    this.#last = null;
  }
}
