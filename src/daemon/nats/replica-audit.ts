// Whether this node's copy of each control-plane stream holds what the
// stream's leader holds, and a rebuild from the peers when it does not.
//
// nats-server 2.10.27 (bench/repro-corrupt-follower.ts, nats-server alone): a
// follower whose last message block was cut to half while it was stopped
// starts again, is healthy within 1 s, and its leader counts it current. Its
// copy holds 151 of 300 messages (149 deleted, the same first and last
// sequence as the leader's), and nothing ever fills them in: made the leader,
// it serves from that copy, and 149 of 600 acknowledged messages are gone.
// Its own monitor (/jsz) shows it: the leader's first and last sequence,
// fewer messages. Moving that copy's stream folder and its raft group folder
// aside while nats-server is stopped makes the node rejoin the group empty;
// the leader sends it the whole stream (300 messages in 1.7 s) and the loss
// never happens. Eight bytes inverted inside a block leave the counts as
// they were: that damage is not seen here (nats-server checks a message's
// checksum when it reads it; in the repro such a node gave up its
// leadership and lost nothing).
//
// Invariants:
// - A copy is judged only against answers naming the same leader, other
//   than this node, asked before and after the local read, and only once it
//   has applied the leader's first answer: its count must then lie within
//   what the sequences written between the reads can explain (judgeCopy).
// - A copy that applies behind its leader is read again (every POLL_MS, for
//   catchUpMs) until it has passed the leader's first answer, then the
//   leader is asked again: under steady writes a follower is always a few
//   sequences behind, and a copy judged only when it happened to be ahead
//   went unjudged for SETTLE_MS and was called ready without (a local
//   combined run: the members copy on every restart).
//   A copy still behind after every try of every round for SETTLE_MS does not
//   apply what its leader sends (a store cut short below its raft state, as a
//   truncated block can leave it): it is judged short, never ready without.
// - Every stream whose leader names this node a replica is judged, whether or
//   not this node's monitor lists it yet: a copy not listed at the first
//   round holds readiness like one not judged (it is not skipped).
// - In a KV bucket of history 1 that does not expire, each write adds one
//   message or replaces one: the copy's count is judged exactly against the
//   counts the leader's answers allow, and so are its holes. Elsewhere (the
//   nonces expire by age, an object store replaces many chunks in one write)
//   holes are judged with slack.
// - A copy is rebuilt only when found short in two rounds in a row, the
//   stream's leader and every other replica current (the stream keeps its
//   quorum without this node), and not rebuilt in the last REBUILD_EVERY_MS.
// - Nothing is deleted: the copy and its raft state move to
//   <store>/quarantine/<time>-<stream>/, the newest QUARANTINE_KEPT kept.
// - A leader's copy found short (this node holds more at the same sequences)
//   is asked to step down, at most once per REBUILD_EVERY_MS: its own
//   membershipd finds it short once it follows.
// - A copy nats-server rebuilt from its blocks at a start is suspect until
//   judged the same: elected before that, it steps down (STEP_DOWNS_PER_REBUILD
//   times at most), one short verdict rebuilds it (copyRebuilt, copyLed), and
//   in an expiring stream it is short too when it starts well after the
//   leader's copy (its front lost, with no holes to show it).
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../../util/time.js';

/** A stream's state as /jsz and STREAM.INFO give it. */
export interface CopyState { messages: number; first_seq: number; last_seq: number; num_deleted?: number }

/** This node's copy, from its own monitor. */
export interface OwnCopy {
  stream: string;
  account: string;
  raftGroup?: string;
  state: CopyState;
  leader?: string;
}

/** The stream as its leader answers STREAM.INFO. */
export interface LeaderView {
  leader?: string;
  state: CopyState;
  /** The replicas other than the leader. */
  replicas: { name: string; current?: boolean; offline?: boolean }[];
  /** The stream drops its oldest messages by age (max_age): each replica on its own timer. */
  expires?: boolean;
  /** One message per subject (a KV bucket of history 1): each write adds one message or replaces one. */
  perKey?: boolean;
}

export type CopyVerdict =
  | { kind: 'same' }
  | { kind: 'unjudged'; why: string }
  | { kind: 'short'; why: string }
  | { kind: 'leader-short'; why: string };

/** Rounds this far apart while every copy matched; a copy found short is looked at again after SOON_MS. */
export const AUDIT_EVERY_MS = 10_000;
export const SOON_MS = 1000;
/** One rebuild (or leader step-down) per stream in this long. */
export const REBUILD_EVERY_MS = 600_000;
/**
 * Step-downs of a rebuilt copy not judged yet, per rebuild: more than one,
 * as the chaos play's corruption elects its victim again at once (a local
 * chaos run: a cut nonce copy re-elected after its one step-down led, and
 * accepted 3 replays).
 */
export const STEP_DOWNS_PER_REBUILD = 3;
export const QUARANTINE_KEPT = 5;
/** How long readiness waits for every followed copy to be judged once. */
export const SETTLE_MS = 30_000;
/** Reads of a round's unjudged streams, 50-150 ms apart. */
const TRIES = 5;
/** A try reads this node's copies again every POLL_MS, for CATCH_UP_MS at most, until each has passed its leader's first answer. */
export const CATCH_UP_MS = 2000;
const POLL_MS = 50;

/** In a stream that expires by age, holes within this many (or this share of the leader's count, if more) are not judged apart. */
export const MIN_SLACK = 8;
export const SLACK_SHARE = 0.01;

/** The sequences between a copy's first and last that it does not hold (deleted, replaced, or lost). */
export function holesOf(c: CopyState): number {
  return c.last_seq >= c.first_seq ? c.last_seq - c.first_seq + 1 - c.messages : 0;
}

/**
 * Pure: this node's copy against its leader's, read before and after it.
 * Not the counts: an expiring stream (the nonces) drops its oldest messages
 * on each replica's own timer, and copies of it were measured 66 to 74
 * messages apart at one sequence, undamaged. The holes between a copy's
 * first and last sequence are replicated instead (a KV key's replaced
 * revision, a delete): expiry only takes them away from the front, and each
 * sequence written between the reads adds at most one. A copy cut short on
 * disk keeps its last sequence and has the lost ones as holes (149 of 300
 * in the repro).
 */
export function judgeCopy(me: string, before: LeaderView | null, own: OwnCopy | undefined, after: LeaderView | null, copy: { rebuilt?: boolean } = {}): CopyVerdict {
  if (!before?.leader || !after?.leader) return { kind: 'unjudged', why: own ? 'no leader answered' : 'no copy here' };
  if (before.leader !== after.leader) return { kind: 'unjudged', why: 'leader changed' };
  if (after.leader === me) return { kind: 'unjudged', why: 'this node leads it' };
  if (!own) return { kind: 'unjudged', why: after.replicas.some((r) => r.name === me) ? NOT_LISTED : 'no copy here' };
  const a = before.state;
  const b = after.state;
  const o = own.state;
  if (o.last_seq < a.last_seq) return { kind: 'unjudged', why: 'behind the leader' };
  if (o.last_seq > b.last_seq) return { kind: 'unjudged', why: 'ahead of the leader' };
  const expires = before.expires || after.expires;
  const exact = !expires && before.perKey && after.perKey;
  const at = `at sequences ${o.first_seq}..${o.last_seq}`;
  if (exact) {
    // Each write adds a message or replaces one: the leader's count at this copy's sequence lies within these.
    const fewest = Math.max(a.messages, b.messages - (b.last_seq - o.last_seq));
    const most = a.messages + (o.last_seq - a.last_seq);
    const theirs = `the leader's (${after.leader}) ${a.messages} at ${a.first_seq}..${a.last_seq}${b.last_seq !== a.last_seq ? `, then ${b.messages} at ${b.first_seq}..${b.last_seq}` : ''}`;
    if (o.messages < fewest) return { kind: 'short', why: `this node's copy holds ${o.messages} messages ${at}, ${theirs}` };
    if (o.messages > most) return { kind: 'leader-short', why: `${theirs[0]!.toUpperCase()}${theirs.slice(1)}, this node's copy ${o.messages} ${at}` };
  }
  // A copy rebuilt from its blocks at a start may have lost the front of an expiring stream: it then starts later than
  // the leader's, with no holes, which expiry on its own timer would explain only by a few messages (a local chaos run:
  // a cut nonce copy started 6,800 sequences after the leader's, 15,412 messages, and a replay was accepted through it).
  const front = Math.max(MIN_SLACK, Math.ceil(b.messages * SLACK_SHARE));
  if (copy.rebuilt && expires && o.first_seq > b.first_seq + front) {
    return { kind: 'short', why: `this node's copy, rebuilt from its blocks at the start, holds ${o.messages} messages ${at}, the leader's (${after.leader}) ${b.messages} from ${b.first_seq}: ${o.first_seq - b.first_seq} missing at its front` };
  }
  // Expiry on each replica's own timer leaves more holes at the front of a copy that expired later: at most
  // one per sequence it holds before the leader's first. In a KV bucket of history 1 that is all (each write
  // replaces at most one message); an object store's replaced object leaves many holes in one write.
  const slack = exact ? 0 : expires && before.perKey && after.perKey ? Math.max(0, a.first_seq - o.first_seq) : Math.max(MIN_SLACK, Math.ceil(a.messages * SLACK_SHARE));
  const mine = holesOf(o);
  if (mine > holesOf(a) + (o.last_seq - a.last_seq) + slack) {
    return { kind: 'short', why: `this node's copy holds ${o.messages} messages ${at} (${mine} missing between), the leader's (${after.leader}) ${a.messages} at ${a.first_seq}..${a.last_seq} (${holesOf(a)})` };
  }
  if (holesOf(b) > mine + (b.last_seq - o.last_seq) + slack) {
    return { kind: 'leader-short', why: `the leader's (${after.leader}) copy holds ${b.messages} messages at ${b.first_seq}..${b.last_seq} (${holesOf(b)} missing between), this node's ${o.messages} ${at} (${mine})` };
  }
  return { kind: 'same' };
}

/** A stream the leader names this node a replica of, missing from this node's own monitor (still loading after a start). */
const NOT_LISTED = "a replica here, not listed by this node's monitor yet";
/** Verdicts a round's next read may change: tried again within the round. */
const RETRIED = new Set(['behind the leader', 'ahead of the leader', 'no leader answered', NOT_LISTED]);

/** Pure: whether the stream keeps a current majority without this node's copy. */
export function rebuildSafe(me: string, v: LeaderView): string | null {
  if (!v.leader || v.leader === me) return 'no other leader';
  const others = v.replicas.filter((r) => r.name !== me);
  const behind = others.filter((r) => !r.current || r.offline).map((r) => r.name);
  return behind.length ? `replica${behind.length > 1 ? 's' : ''} ${behind.join(', ')} not current` : null;
}

export interface AuditDeps {
  me: string;
  /** The control-plane streams to audit. */
  streams(): string[];
  /** This node's copies, by stream, from its own monitor. */
  readOwn(): Promise<Map<string, OwnCopy>>;
  /** The stream's STREAM.INFO (answered by its leader), or null. */
  readLeader(stream: string): Promise<LeaderView | null>;
  /** Stops nats-server, runs `whileDown`, starts it again. */
  restartWith(reason: string, whileDown: () => Promise<void>): Promise<unknown>;
  stepDown(stream: string): Promise<void>;
  /** nats-server's store_dir. */
  storeDir: string;
  log(line: string): void;
  now?: () => number;
  /** How long a try waits for this node's copies to pass the leader's first answer (CATCH_UP_MS). */
  catchUpMs?: number;
}

export interface AuditRound {
  verdicts: Map<string, CopyVerdict>;
  rebuilt: string[];
}

export class ReplicaAudit {
  readonly #d: AuditDeps;
  /** Rounds in a row each stream was found short. */
  readonly #strikes = new Map<string, number>();
  readonly #lastAct = new Map<string, number>();
  #rounds = 0;
  #reason: string | null = null;
  /** Streams judged at least once; the ones this node follows but has not judged yet. */
  readonly #judged = new Set<string>();
  #unjudged: string[] = [];
  #firstAt: number | null = null;
  #saidUnjudged = false;
  /** Since when each stream's copy was found behind its leader in every try of every round. */
  readonly #behindSince = new Map<string, number>();
  /** Copies nats-server rebuilt from their blocks at a start, not judged the same since: how often this node handed off their lead. */
  readonly #rebuiltCopies = new Map<string, { stepDowns: number }>();

  constructor(d: AuditDeps) {
    this.#d = d;
  }

  /** Rounds done so far (the first one gates readiness). */
  get rounds(): number {
    return this.#rounds;
  }

  /** Why this node's copies cannot be vouched for now, or null. */
  get reason(): string | null {
    return this.#reason;
  }

  /**
   * Every copy this node follows judged once (or SETTLE_MS gone by since the
   * first round, the ones never judged named in the log): until then a node
   * back from a stop is not called ready on copies nobody looked at. A copy
   * behind its leader is never let go this way: it is judged short once it
   * has stayed behind for SETTLE_MS of its own (it may have started lagging
   * after the first round).
   */
  get settled(): boolean {
    const now = (this.#d.now ?? Date.now)();
    if (this.#rounds === 0) return false;
    if (this.#unjudged.length === 0) return true;
    return now - (this.#firstAt ?? now) >= SETTLE_MS && !this.#unjudged.some((s) => this.#behindSince.has(s));
  }

  /**
   * nats-server rebuilt this node's copy from its blocks at a start (its log
   * says so: runaway.ts REBUILT). Until a round judges it the same as its
   * leader's, it is suspect: looked at every SOON_MS, rebuilt from the peers
   * on its first short verdict (the rebuild is its first strike), not ready,
   * and, once elected, it hands the lead off (copyLed).
   */
  copyRebuilt(stream: string): void {
    // Not checked against streams() here: the control plane names its streams after the child's start.
    this.#rebuiltCopies.set(stream, { stepDowns: 0 });
    this.#judged.delete(stream);
  }

  /**
   * This node was elected the leader of `stream`. A copy rebuilt from its
   * blocks and not judged yet steps down, STEP_DOWNS_PER_REBUILD times at
   * most: a leader's own copy is never judged here (judgeCopy), and raft
   * holds no record of what the rebuild lost. Made the leader with a block
   * cut short, a copy served reads without 7 of its 44 keys for 14 s, until
   * the followers' rounds found it short (a local chaos run, 2.15.1).
   * Bounded: when every copy was rebuilt (a whole cluster killed), the
   * stream keeps a leader; between elections its followers judge their
   * copies, and a copy judged the same no longer steps down.
   */
  async copyLed(stream: string): Promise<void> {
    const r = this.#rebuiltCopies.get(stream);
    if (!r || r.stepDowns >= STEP_DOWNS_PER_REBUILD || !this.#d.streams().includes(stream)) return;
    r.stepDowns++;
    this.#d.log(`replica audit: stream ${stream}: this node was elected its leader while its copy, rebuilt from its blocks at the start, is not judged yet; stepping down until it is compared with the new leader's`);
    await this.#d.stepDown(stream).catch((e: Error) => this.#d.log(`replica audit: stream ${stream}: step-down refused: ${e.message}`));
  }

  /** The copies rebuilt from their blocks and not judged the same since. */
  get rebuiltUnjudged(): string[] {
    return [...this.#rebuiltCopies.keys()].filter((s) => this.#d.streams().includes(s));
  }

  /** When the next round is due: sooner while a copy is under suspicion or not judged yet. */
  get nextInMs(): number {
    return [...this.#strikes.values()].some((n) => n > 0) || this.#unjudged.length || this.rebuiltUnjudged.length ? SOON_MS : AUDIT_EVERY_MS;
  }

  async round(): Promise<AuditRound> {
    const d = this.#d;
    const now = d.now ?? Date.now;
    this.#firstAt ??= now();
    const verdicts = new Map<string, CopyVerdict>();
    const views = new Map<string, LeaderView | null>();
    let own = await d.readOwn();
    // Not only the copies this node's monitor lists: a stream not listed yet is asked of its leader too.
    let left = d.streams().filter((s) => own.get(s)?.leader !== d.me);
    for (let t = 0; t < TRIES && left.length; t++) {
      if (t) {
        await sleep(50 + Math.floor(Math.random() * 100));
      }
      const before = await Promise.all(left.map((s) => d.readLeader(s).catch(() => null)));
      own = await d.readOwn();
      // A follower applies what its leader holds a little later: wait (bounded) until it passed the first answer.
      const behind = () => left.some((s, i) => own.has(s) && before[i]?.leader && own.get(s)!.state.last_seq < before[i]!.state.last_seq);
      for (let n = Math.ceil((d.catchUpMs ?? CATCH_UP_MS) / POLL_MS); n > 0 && behind(); n--) {
        await sleep(POLL_MS);
        own = await d.readOwn();
      }
      const after = await Promise.all(left.map((s) => d.readLeader(s).catch(() => null)));
      left.forEach((s, i) => {
        verdicts.set(s, judgeCopy(d.me, before[i]!, own.get(s), after[i]!, { rebuilt: this.#rebuiltCopies.has(s) }));
        views.set(s, after[i]!);
      });
      left = left.filter((s) => {
        const v = verdicts.get(s)!;
        return v.kind === 'unjudged' && RETRIED.has(v.why);
      });
    }
    // A stream with no replica here is not this node's to judge.
    for (const [s, v] of verdicts) if (v.kind === 'unjudged' && v.why === 'no copy here') verdicts.delete(s);
    // A copy that stays behind through every try for SETTLE_MS does not apply what its leader holds: short.
    for (const [s, v] of verdicts) {
      if (v.kind !== 'unjudged' || v.why !== 'behind the leader') {
        this.#behindSince.delete(s);
        continue;
      }
      const since = this.#behindSince.get(s) ?? now();
      this.#behindSince.set(s, since);
      if (now() - since >= SETTLE_MS) {
        const o = own.get(s)!.state;
        verdicts.set(s, { kind: 'short', why: `this node's copy stayed behind the leader's (${views.get(s)?.leader}) for ${Math.round((now() - since) / 1000)} s (at sequence ${o.last_seq}, the leader's ${views.get(s)?.state.last_seq})` });
      }
    }
    for (const [s, v] of verdicts) if (v.kind !== 'unjudged') this.#judged.add(s);
    this.#unjudged = [...verdicts.keys()].filter((s) => !this.#judged.has(s));
    const rebuild: OwnCopy[] = [];
    const reasons: string[] = [];
    for (const [s, v] of verdicts) {
      if (v.kind === 'unjudged') continue;
      if (v.kind === 'same') {
        this.#strikes.set(s, 0);
        this.#rebuiltCopies.delete(s);
        continue;
      }
      const strikes = (this.#strikes.get(s) ?? 0) + 1;
      this.#strikes.set(s, strikes);
      if (v.kind === 'leader-short') {
        if (strikes >= 2 && now() - (this.#lastAct.get(s) ?? -Infinity) >= REBUILD_EVERY_MS) {
          this.#lastAct.set(s, now());
          d.log(`replica audit: stream ${s}: ${v.why}; asking the leader to step down`);
          await d.stepDown(s).catch((e: Error) => d.log(`replica audit: stream ${s}: step-down refused: ${e.message}`));
        }
        continue;
      }
      reasons.push(`stream ${s}: ${v.why}`);
      if (strikes < 2 && !this.#rebuiltCopies.has(s)) continue;
      const unsafe = rebuildSafe(d.me, views.get(s)!);
      const recent = now() - (this.#lastAct.get(s) ?? -Infinity) < REBUILD_EVERY_MS;
      if (unsafe || recent) {
        d.log(`replica audit: stream ${s}: ${v.why}; not rebuilt: ${unsafe ?? 'rebuilt less than 10 min ago'}`);
        continue;
      }
      rebuild.push(own.get(s)!);
    }
    this.#reason = reasons.length ? `${reasons.join('; ')}${rebuild.length ? ' (rebuilding from the peers)' : ''}` : null;
    if (rebuild.length) {
      const names = rebuild.map((c) => c.stream);
      for (const c of rebuild) {
        this.#lastAct.set(c.stream, now());
        this.#strikes.set(c.stream, 0);
        this.#rebuiltCopies.delete(c.stream);
        // Not ready again until the rebuilt copy is judged (or SETTLE_MS from now).
        this.#judged.delete(c.stream);
      }
      this.#firstAt = now();
      this.#saidUnjudged = false;
      const when = new Date(now()).toISOString().replace(/[:.]/g, '-');
      await d.restartWith(`replica audit: this node's copy of ${names.join(', ')} is short (${reasons.join('; ')}); moving it to ${join(d.storeDir, 'quarantine')} and rejoining empty`, async () => {
        for (const c of rebuild) d.log(`replica audit: ${c.stream}: moved aside to ${await quarantineCopy(d.storeDir, c, when)}`);
        await pruneQuarantine(d.storeDir, QUARANTINE_KEPT);
      });
    }
    this.#rounds++;
    this.#unjudged = [...verdicts.keys()].filter((s) => !this.#judged.has(s));
    if (this.settled && this.#unjudged.length && !this.#saidUnjudged) {
      this.#saidUnjudged = true;
      d.log(`replica audit: ${this.#unjudged.join(', ')} not judged within ${SETTLE_MS / 1000} s (${this.#unjudged.map((s) => (verdicts.get(s) as { why: string }).why).join('; ')}); ready without`);
    }
    return { verdicts, rebuilt: rebuild.map((c) => c.stream) };
  }
}

/** Moves a copy's stream folder and raft group folder to <store>/quarantine/<when>-<stream>/ (one rename each). */
export async function quarantineCopy(storeDir: string, c: Pick<OwnCopy, 'stream' | 'account' | 'raftGroup'>, when: string): Promise<string> {
  const to = join(storeDir, 'quarantine', `${when}-${c.stream}`);
  await mkdir(to, { recursive: true, mode: 0o700 });
  const js = join(storeDir, 'jetstream');
  await rename(join(js, c.account, 'streams', c.stream), join(to, 'stream'));
  if (c.raftGroup) {
    await rename(join(js, '$SYS', '_js_', c.raftGroup), join(to, 'raft')).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
  return to;
}

/** Keeps the newest `keep` quarantined copies (their names sort by time). */
export async function pruneQuarantine(storeDir: string, keep: number): Promise<void> {
  const dir = join(storeDir, 'quarantine');
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  for (const n of names.slice(0, Math.max(0, names.length - keep))) {
    if ((await stat(join(dir, n))).isDirectory()) await rm(join(dir, n), { recursive: true, force: true });
  }
}
