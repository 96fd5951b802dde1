// Consistent reads of the users and members buckets from local copies, with
// a leader round trip now and then instead of one per read.
//
// A FollowedBucket keeps every key of its bucket in memory, fed by a KV watch
// (an ordered consumer, delivered in stream order, committed entries only).
// A read is served from the copy only under a fresh barrier: the stream's last
// sequence, asked of the stream leader at most READ_LEASE_MS before the read
// began, and already applied to the copy. When no barrier is that fresh, the
// read asks for one (joining one already asked within the lease). Under
// steady reads the next barrier is asked halfway through the lease, so reads
// do not wait for the leader each time one runs out.
//
// Writers keep their side of the lease: every write to a followed bucket is
// acknowledged to its caller only WRITE_SETTLE_MS after the store acknowledged
// it (waitOutReadLeases), which is longer than the lease. So a write
// acknowledged before a read began was committed before any barrier that read
// may use was asked, and the barrier's sequence covers it: a write
// acknowledged through one node is seen by a read through any node right
// after, and a revocation or a member's removal is in force everywhere by the
// time the admin is told it is done. (Reads may see a write a little before
// its writer is told; they never miss an acknowledged one.)
//
// Fail closed: a barrier the leader does not answer (no quorum, no leader), or
// one answered by a replica that sees no leader, is a 503 for every read
// waiting on it, and once the lease runs out no read is
// served from the copy. If the copy does not reach a barrier within
// catchUpMs (the watch broke, or its consumer sits on a lagging server), the
// read asks the leader itself, as it would without a copy.
//
// A key the copy does not hold is asked of the leader too: a copy that lacks
// a record (fed while a damaged replica led, and never fed from scratch
// since) must not answer "no such user" for an acknowledged one. Seen in a
// combined chaos run: users acknowledged minutes before answered 401 by one
// node after another once a damaged copy of KV_UNIBUS_users had led.
import type { JetStreamManager, MsgRequest } from '@nats-io/jetstream';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/nats-core';
import type { MembersRecord, UserRecord } from '../../protocol/model.js';
import { BUCKETS } from './names.js';
import { LEADERLESS_STEP_MS, OP_BOUND_MS, readJson, untilAnswered, type Versioned } from './kvjson.js';
import { sleep } from '../../util/time.js';
import { UnavailableError } from '../../protocol/errors.js';

export interface FollowOptions {
  /** How long a read waits for the copy to reach its barrier before asking the leader instead. */
  catchUpMs?: number;
  /** Pause before watching again after the watch ended (not after the copy ended it: see #kick). */
  retryMs?: number;
  /** How often an idle copy is compared with the leader's sequence (LIVENESS_MS). */
  livenessMs?: number;
  log?: (line: string) => void;
}

/** A barrier asked this recently serves a read from the copy. */
export const READ_LEASE_MS = 100;
/** Past this age, a read that a barrier still serves asks for the next one in the background. */
export const REFRESH_AFTER_MS = READ_LEASE_MS / 2;
/** How often an idle copy is compared with the leader's sequence, how long it may stay behind, and how often its watch may be made again. */
export const LIVENESS_MS = 250;
export const STALL_MS = 500;
export const KICK_EVERY_MS = 1000;
/** Writers to a followed bucket wait this long after the store's ack: the lease plus room for timers and clock rates. */
export const WRITE_SETTLE_MS = 2 * READ_LEASE_MS;

/** A writer's side of the read lease (see above): call after a write to users or members succeeds. */
export function waitOutReadLeases(): Promise<void> {
  return new Promise((r) => setTimeout(r, WRITE_SETTLE_MS));
}

interface Barrier {
  /** performance.now() when it was asked, before the question went out. */
  askedAt: number;
  seq: Promise<number>;
}

/** The copy could not be trusted for this read: ask the leader. */
export const ASK_LEADER = Symbol('ask the leader');

export class FollowedBucket<T> {
  readonly #entries = new Map<string, Versioned<T>>();
  /** Highest stream sequence the copy has applied (watch deliveries come in stream order). */
  #seen = 0;
  #reached: { seq: number; done: () => void }[] = [];
  /** The newest barrier asked, and the newest the copy has applied. */
  #asked: Barrier | undefined;
  #applied: { askedAt: number } | undefined;
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  #liveness: NodeJS.Timeout | undefined;
  /** When the copy was first seen behind the leader (liveness check), or undefined. */
  #behindSince: number | undefined;
  #lastKick = -Infinity;
  #kicked = false;
  #stopped = false;
  readonly #listeners = new Set<(key: string, value: T | null) => void>();
  /** Leader round trips asked so far, reads they served (the sharing, for logs and tests), watches made again, and jumps past a held value. */
  readonly stats = { barriers: 0, reads: 0, leaderReads: 0, kicks: 0, skips: 0 };

  constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly o: FollowOptions = {},
  ) {}

  /** Starts following in the background; reads ask the leader until the copy catches up. */
  start(): void {
    void this.#follow();
    this.#liveness = setInterval(() => void this.#checkLive(), this.o.livenessMs ?? LIVENESS_MS);
    this.#liveness.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#liveness);
    this.#watch?.stop();
  }

  /** What the copy holds now (no barrier: for a listener that starts late and must catch up with what it missed). */
  current(): [string, T][] {
    return [...this.#entries].map(([k, v]) => [k, v.value]);
  }

  /** Calls `fn` with the key and its new value (null: deleted) after each change the copy applies (the ACL watcher's trigger); returns the unsubscribe. */
  onChange(fn: (key: string, value: T | null) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * The key's value under a barrier asked at most READ_LEASE_MS before this
   * call, or ASK_LEADER when the copy did not reach it in time. A missing,
   * deleted or purged key is null.
   */
  async read(key: string): Promise<Versioned<T> | null | typeof ASK_LEADER> {
    this.stats.reads++;
    const now = performance.now();
    const since = now - READ_LEASE_MS;
    if (this.#applied && this.#applied.askedAt >= since) {
      if (this.#applied.askedAt < now - REFRESH_AFTER_MS && !(this.#asked && this.#asked.askedAt > this.#applied.askedAt)) this.#refresh();
    } else {
      const b = this.#asked && this.#asked.askedAt >= since ? this.#asked : this.#ask();
      const seq = await b.seq;
      if (!(await this.#reach(seq))) {
        this.stats.leaderReads++;
        this.#kick(`did not reach the leader's sequence ${seq} within ${this.o.catchUpMs ?? 250} ms`);
        return ASK_LEADER;
      }
      this.#advance(b.askedAt);
    }
    return this.#entries.get(key) ?? null;
  }

  /** The copy has applied the barrier asked at `askedAt`. */
  #advance(askedAt: number): void {
    if (!this.#applied || askedAt > this.#applied.askedAt) this.#applied = { askedAt };
  }

  /**
   * Asks for the next barrier while the current one still serves reads, so
   * that under steady reads none waits for the leader when the lease ends.
   * It serves reads only once the copy has applied it, as any barrier.
   */
  #refresh(): void {
    const b = this.#ask();
    b.seq.then(
      async (seq) => {
        if (await this.#reach(seq)) this.#advance(b.askedAt);
      },
      () => undefined, // the next read past the lease asks again, and reports a refusal
    );
  }

  #ask(): Barrier {
    this.stats.barriers++;
    const askedAt = performance.now();
    const seq = this.#leaderSeq();
    const b = { askedAt, seq };
    // A refused barrier is the waiting reads' to report; the next read asks again.
    seq.catch(() => {
      if (this.#asked === b) this.#asked = undefined;
    });
    this.#asked = b;
    return b;
  }

  /**
   * The stream's last sequence as its leader answers it. A replica that sees
   * no leader answers STREAM.INFO with its own state (nats-server 2.10.27,
   * jsStreamInfoRequest: "if the group has no leader" any member answers),
   * and its last sequence may be short of what the majority committed:
   * measured on the lab, a read served under such a barrier missed a member
   * added 7 s before. Only an answer that names a leader is a barrier; while
   * none does, the question is asked again every LEADERLESS_STEP_MS (a
   * hand-off elects the next leader within a second), then refused.
   */
  async #leaderSeq(): Promise<number> {
    const until = performance.now() + OP_BOUND_MS;
    for (;;) {
      const si = await untilAnswered(`${this.stream} leader`, () => this.jsm.streams.info(this.stream), until - performance.now());
      if (!si.cluster || si.cluster.leader) return si.state.last_seq;
      if (performance.now() >= until) throw new UnavailableError(`${this.stream} has no leader (a replica answered with its own state)`);
      await sleep(LEADERLESS_STEP_MS);
    }
  }


  /**
   * The watch delivers nothing while the server its consumer sits on is down
   * or behind (measured on the lab: during a rolling restart a node's copy of
   * the users bucket stalled, and a revoked user's NATS connection was let in
   * 2.8 s after the revoke), and the consumer notices only after missed
   * heartbeats. So the copy is watched: a read whose barrier it did not reach,
   * or a look at the leader's sequence every LIVENESS_MS that finds it behind
   * for STALL_MS, ends the watch, and it is made again at once from the next
   * sequence (at most once per KICK_EVERY_MS).
   */
  #kick(why: string): void {
    const now = performance.now();
    if (this.#stopped || !this.#watch || now - this.#lastKick < KICK_EVERY_MS) return;
    this.#lastKick = now;
    this.#kicked = true;
    this.stats.kicks++;
    this.o.log?.(`following ${this.stream}: the copy ${why}; following again from ${this.#seen + 1}`);
    this.#watch.stop();
  }

  async #checkLive(): Promise<void> {
    // Reads that reached a recent barrier show the copy live.
    if (this.#stopped || (this.#applied && this.#applied.askedAt >= performance.now() - (this.o.livenessMs ?? LIVENESS_MS))) {
      this.#behindSince = undefined;
      return;
    }
    let seq: number;
    try {
      seq = await this.#leaderSeq();
    } catch {
      return; // no leader: nothing to catch up with now
    }
    const now = performance.now();
    if (this.#seen >= seq) this.#behindSince = undefined;
    else if (this.#behindSince === undefined) this.#behindSince = now;
    else if (now - this.#behindSince >= STALL_MS) {
      this.#behindSince = undefined;
      this.#kick(`stayed behind the leader's sequence ${seq} for ${STALL_MS} ms`);
    }
  }

  /**
   * The first sequence after `seen` and before `upTo` that the stream's
   * leader still holds, or null (none, or the leader did not answer). In a
   * bucket of one value per key, a watch that jumps sequences is normal only
   * over values a later write deleted; one the leader still holds was
   * skipped by the server the watch's consumer sits on. Seen once in a local
   * chaos run (kill-follower, seed 302): a copy made while its replica was
   * catching up missed one member added 20 s before, every replica holding
   * it; the cause in nats-server is open (docs/chaos.md). One MSG.GET per
   * jump.
   */
  async #heldBetween(seen: number, upTo: number): Promise<number | null> {
    try {
      const m = await this.jsm.streams.getMessage(this.stream, { seq: seen + 1, next_by_subj: '>' } as unknown as MsgRequest);
      return m && m.seq < upTo ? m.seq : null;
    } catch {
      return null; // none held (JetStream's "no message found"), or no leader to ask now
    }
  }

  /** True once the copy has applied `seq` (at once when it already has); false after catchUpMs. */
  #reach(seq: number): Promise<boolean> {
    if (this.#seen >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#reached = this.#reached.filter((w) => w !== waiter);
        resolve(false);
      }, this.o.catchUpMs ?? 250);
      const waiter = {
        seq,
        done: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.#reached.push(waiter);
    });
  }

  #apply(e: KvWatchEntry): void {
    let value: T | null = null;
    if (e.operation === 'PUT' && e.length > 0) {
      value = deepFreeze(e.json<T>());
      this.#entries.set(e.key, { value, revision: e.revision });
    } else {
      this.#entries.delete(e.key);
    }
    if (e.revision > this.#seen) this.#seen = e.revision;
    if (this.#reached.length) {
      const still = [];
      for (const w of this.#reached) {
        if (w.seq <= this.#seen) w.done();
        else still.push(w);
      }
      this.#reached = still;
    }
    for (const fn of this.#listeners) fn(e.key, value);
  }

  async #follow(): Promise<void> {
    while (!this.#stopped) {
      try {
        // After a break, go on from the next sequence: nothing between is skipped.
        // A resumed watch delivers every sequence still held, so any jump in it is checked; a first one's
        // first values (the last value of each key) jump over every deleted sequence, so only its updates are.
        const resumed = this.#seen > 0;
        const it = await this.kv.watch(resumed ? { resumeFromRevision: this.#seen + 1 } : {});
        this.#watch = it;
        if (this.#stopped) it.stop();
        for await (const e of it) {
          if ((resumed || e.isUpdate) && this.#seen > 0 && e.revision > this.#seen + 1) {
            const held = await this.#heldBetween(this.#seen, e.revision);
            if (held !== null) {
              this.stats.skips++;
              this.o.log?.(`following ${this.stream}: the watch went from ${this.#seen} to ${e.revision} past ${held}, which the leader holds; following again from ${this.#seen + 1}`);
              it.stop();
              this.#kicked = true;
              await sleep(this.o.livenessMs ?? LIVENESS_MS);
              break;
            }
          }
          this.#apply(e);
        }
      } catch (err) {
        this.o.log?.(`following ${this.stream}: ${(err as Error).message}; following again`);
      }
      if (this.#kicked) this.#kicked = false;
      else if (!this.#stopped) await new Promise((r) => setTimeout(r, this.o.retryMs ?? 1000).unref());
    }
  }
}

/** Values in the copy are shared by every read: freeze them so no caller can change what the next one sees. */
function deepFreeze<V>(v: V): V {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** The buckets every signed request reads: who the caller is, and who is in the room. */
/** What following needs of an open store (buckets.ts's Store is one). */
export interface FollowSource {
  kv: { users: KV; members: KV };
  jsm: JetStreamManager;
  follow?: FollowedBuckets;
}

export interface FollowedBuckets {
  users: FollowedBucket<UserRecord>;
  members: FollowedBucket<MembersRecord>;
}

/** Starts following the users and members buckets; reads through the store use the copies from now on. */
export function followStore(store: FollowSource, o: FollowOptions = {}): FollowedBuckets {
  const follow: FollowedBuckets = {
    users: new FollowedBucket<UserRecord>(store.kv.users, store.jsm, `KV_${BUCKETS.users}`, o),
    members: new FollowedBucket<MembersRecord>(store.kv.members, store.jsm, `KV_${BUCKETS.members}`, o),
  };
  follow.users.start();
  follow.members.start();
  store.follow = follow;
  return follow;
}

export function unfollowStore(store: FollowSource): void {
  store.follow?.users.stop();
  store.follow?.members.stop();
  store.follow = undefined;
}

/** A consistent read: from the followed copy after its barrier, else (and for a key the copy does not hold) at the leader. */
export async function readConsistent<T>(kv: KV, followed: FollowedBucket<T> | undefined, key: string): Promise<Versioned<T> | null> {
  if (followed) {
    const r = await followed.read(key);
    if (r !== ASK_LEADER && r !== null) return r;
  }
  return readJson<T>(kv, key);
}
