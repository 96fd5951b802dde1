// Nonces in memory (opt-in), and why losing them cannot let a replay in.
//
// With `--nonce-store memory` on a replicated store (R3, R5) the nonce bucket
// is a memory stream: a nonce claim is a RAFT-committed write to a majority of
// the replicas, but no replica waits on a disk flush for it. Its history
// survives the loss of any minority of nodes (a restarted replica catches up
// from the leader). Every replica restarting at once (a full-cluster restart,
// a power cut) empties it, sequence numbers starting again at 1. A replay
// cache that may have lost entries must refuse every request that could have
// been accepted before the loss, as a Kerberos replay cache does after a
// reboot. A request accepted at t carries a timestamp within NONCE_WINDOW_MS of
// t (either side), so it can be replayed until t + 2 * window.
//
// The rule, checked at the stream leader before any claim counts:
//   - a stream marked `lost@T` (config metadata, kept by the meta group on
//     disk) refuses claims until T + HISTORY_NEEDED_MS, whatever its storage:
//     scale-r3 marks it so when moving a bucket that held nonces between disk
//     and memory, and a node marks it so when it sees the history's last
//     sequence go backwards (the newest nonces lost with most replicas).
//   - otherwise a file-backed history serves: it loses nothing on a restart.
//   - a memory history whose oldest message is at least HISTORY_NEEDED_MS old
//     (twice the window, plus 10 s for clocks that differ between nodes)
//     serves: anything lost before it began can no longer be replayed. Every
//     node writes a beat key every BEAT_MS, so a history that keeps running
//     always holds a message that old (the TTL is 150 s).
//   - a younger one serves only if it is the one marked in the metadata. The
//     mark names the history by its first message (sequence and timestamp)
//     and is set before the first claim is ever accepted on the stream: so an
//     unmarked stream has never accepted one, and a stream marked with another
//     history may have lost accepted nonces. Then signed requests are refused
//     (503, saying how long is left) until the new history is old enough.
// A claim is accepted only within HISTORY_LEASE_MS of a check that said the
// history serves, and only if its sequence is past the last sequence that
// check saw: a claim that lands in a history restarted since (sequence numbers
// start again at 1) is refused. Electing a new leader after its old one died
// takes seconds, far longer than the lease.
// What this cannot see: if most replicas crash at once while the one left was
// behind, the newest nonces can be lost with the first message kept. Each
// node compares the last sequence against the highest it has seen, so a node
// that served one of those nonces refuses (and marks the stream) at once;
// a node that never saw them, in the moment before any other marks it, could
// accept a replay of one. That is the trade the memory store makes; on disk
// (the default) no acknowledged nonce is ever lost.
import { randomBytes } from 'node:crypto';
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { NONCE_WINDOW_MS } from './buckets.js';
import { ApiError, UnavailableError } from '../../protocol/errors.js';
import { isPassing, LEADERLESS_STEP_MS } from './kvjson.js';

export const HISTORY_NEEDED_MS = 2 * NONCE_WINDOW_MS + 10_000;
export const HISTORY_LEASE_MS = 1000;
export const BEAT_MS = 10_000;
/** The stream config metadata key that names the history claims were accepted in. */
export const HISTORY_MARK = 'unibus_nonce_history';
/** The mark of a stream that may have lost accepted nonces at `at` (ms since the epoch). */
export const lostMark = (at: number) => `lost@${at}`;
/** Beat keys: a handle starts with a letter, so no nonce key (`handle.nonce`) starts like this. */
export const BEAT_PREFIX = '_beat.';

export type HistoryVerdict =
  | { ok: true; lastSeq: number }
  | { ok: false; reason: string; retry?: 'leader' | 'beat'; markWith?: string; lost?: true };

/** The identity of a history: its first message, which only expiry (past the TTL) or a loss changes. */
export function historyId(si: StreamInfo): string {
  return `${si.state.first_seq}@${si.state.first_ts}`;
}

/** Whether the nonce history in `si` (answered by the stream leader) may serve claims at `now`. */
export function historyVerdict(si: StreamInfo, replicas: number, now: number): HistoryVerdict {
  const lastSeq = si.state.last_seq;
  const mark = si.config.metadata?.[HISTORY_MARK];
  const lostAt = /^lost@(\d+)$/.exec(mark ?? '');
  if (lostAt && now < Number(lostAt[1]) + HISTORY_NEEDED_MS) return { ok: false, lost: true, reason: lostReason(Number(lostAt[1]) + HISTORY_NEEDED_MS - now) };
  if (si.config.storage !== 'memory') return { ok: true, lastSeq };
  // Only the leader's answer counts: without one, a replica answers with its own state.
  if (Math.max(replicas, si.config.num_replicas ?? 1) > 1 && !si.cluster?.leader) return { ok: false, reason: 'nonce stream has no leader', retry: 'leader' };
  if (si.state.messages === 0) return { ok: false, reason: 'nonce history is empty', retry: 'beat' };
  const age = now - Date.parse(si.state.first_ts);
  if (age >= HISTORY_NEEDED_MS) return { ok: true, lastSeq };
  const id = historyId(si);
  if (mark === id) return { ok: true, lastSeq };
  if (mark === undefined) return { ok: false, reason: 'nonce history not yet marked', markWith: id };
  return { ok: false, lost: true, reason: lostReason(HISTORY_NEEDED_MS - age) };
}

function lostReason(leftMs: number): string {
  const left = Math.max(1, Math.ceil(leftMs / 1000));
  return `the nonce history was lost (most replicas restarted at once, or the bucket moved between disk and memory), so a request accepted before could be replayed until a new one covers ${HISTORY_NEEDED_MS / 1000} s, about ${left} s more`;
}

interface Check {
  askedAt: number;
  lastSeq: number;
}

export interface NonceHistoryOptions {
  /** Bound on a check, waits for a leader included. */
  timeoutMs: number;
  now?: () => number;
  log?: (line: string) => void;
}

export class NonceHistory {
  #check: Check | undefined;
  #asking: Promise<Check> | undefined;
  #refused: { at: number; err: Error } | undefined;
  #beat: NodeJS.Timeout | undefined;
  #storage: string | undefined;
  /** The highest sequence this node has seen in the stream: a leader's last sequence below it means nonces were lost. */
  #highest = 0;
  readonly stats = { checks: 0, marks: 0, beats: 0 };

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly kv: KV,
    private readonly stream: string,
    private readonly replicas: number,
    private readonly o: NonceHistoryOptions,
  ) {}

  #now(): number {
    return (this.o.now ?? Date.now)();
  }

  /**
   * A check that said the history serves, asked less than HISTORY_LEASE_MS ago
   * (the next one is asked ahead, halfway through). Send the claim at once.
   */
  async confirm(): Promise<Check> {
    const c = this.#check;
    const age = c ? this.#now() - c.askedAt : Infinity;
    if (c && age < HISTORY_LEASE_MS) {
      if (age >= HISTORY_LEASE_MS / 2 && !this.#asking) void this.#ask().catch(() => undefined);
      return c;
    }
    // A refusal stands for a moment: under load, requests do not each ask again.
    const r = this.#refused;
    if (r && this.#now() - r.at < HISTORY_LEASE_MS / 2) throw r.err;
    return this.#ask();
  }

  /** Throws unless a claim acknowledged at `seq`, sent under `check`, landed in the history that check saw. */
  accept(check: Check, seq: number): void {
    if (seq > this.#highest) this.#highest = seq;
    if (seq <= check.lastSeq) {
      this.#check = undefined;
      throw new UnavailableError('the nonce history changed under this request');
    }
  }

  #ask(): Promise<Check> {
    this.#asking ??= this.#decide().finally(() => (this.#asking = undefined));
    return this.#asking;
  }

  async #decide(): Promise<Check> {
    try {
      return await this.#decideOnce();
    } catch (err) {
      if (err instanceof ApiError) throw err;
      return this.#refuse(new UnavailableError('nonce history', err));
    }
  }

  async #decideOnce(): Promise<Check> {
    const deadline = this.#now() + this.o.timeoutMs;
    let v: HistoryVerdict = { ok: false, reason: 'not checked' };
    for (let round = 0; this.#now() < deadline; round++) {
      this.stats.checks++;
      const askedAt = this.#now();
      // Only what was acknowledged before asking must be in the answer: a
      // claim acknowledged while the answer is on its way may be past it.
      const floor = this.#highest;
      let si: StreamInfo;
      try {
        si = await this.jsm.streams.info(this.stream);
      } catch (err) {
        // Unanswered (a hand-off in flight) or between leaders: asked again within the bound.
        if (!isPassing(err) || this.#now() + LEADERLESS_STEP_MS >= deadline) return this.#refuse(new UnavailableError(`${this.stream} leader`, err));
        await new Promise((r) => setTimeout(r, LEADERLESS_STEP_MS));
        continue;
      }
      this.#storage = si.config.storage;
      const led = !!si.cluster?.leader || Math.max(this.replicas, si.config.num_replicas ?? 1) === 1;
      if (led && si.state.last_seq < floor) {
        // The newest nonces this node saw are gone: tell every node.
        const mark = lostMark(this.#now());
        this.o.log?.(`nonce stream's last sequence went back from ${floor} to ${si.state.last_seq}: marked ${mark}`);
        this.#highest = si.state.last_seq;
        this.stats.marks++;
        await this.jsm.streams.update(this.stream, { metadata: { ...(si.config.metadata ?? {}), [HISTORY_MARK]: mark } });
        continue;
      }
      v = historyVerdict(si, this.replicas, this.#now());
      // A check that took longer than the lease cannot bind a claim: ask again.
      if (v.ok && this.#now() - askedAt >= HISTORY_LEASE_MS) continue;
      if (v.ok) {
        if (v.lastSeq > this.#highest) this.#highest = v.lastSeq;
        const c = { askedAt, lastSeq: v.lastSeq };
        if (!this.#check || c.askedAt > this.#check.askedAt) this.#check = c;
        this.#refused = undefined;
        return c;
      }
      if (v.markWith) {
        // Before the first claim is ever accepted on this stream: name the
        // history it is accepted in. The meta group keeps config on disk.
        this.stats.marks++;
        await this.jsm.streams.update(this.stream, { metadata: { ...(si.config.metadata ?? {}), [HISTORY_MARK]: v.markWith } });
        this.o.log?.(`nonce history ${v.markWith} marked`);
        continue;
      }
      if (v.retry === 'beat') await this.beat();
      else if (v.retry === 'leader') await new Promise((r) => setTimeout(r, Math.min(100 * (round + 1), 500)));
      else break;
    }
    if (!v.ok && v.lost) return this.#refuse(new ApiError('unavailable', `signed requests refused: ${v.reason}; retry later`));
    return this.#refuse(new UnavailableError(v.ok ? 'nonce history' : v.reason));
  }

  #refuse(err: Error): never {
    this.#refused = { at: this.#now(), err };
    throw err;
  }

  /** One beat: a key that keeps a running history holding a message as old as the TTL allows. */
  async beat(): Promise<void> {
    // A file-backed history loses nothing and needs no beats; learn which this one is.
    this.#storage ??= (await this.jsm.streams.info(this.stream)).config.storage;
    if (this.#storage !== 'memory') {
      this.#storage = undefined;
      return;
    }
    this.stats.beats++;
    await this.kv.put(`${BEAT_PREFIX}${this.#now()}.${randomBytes(4).toString('hex')}`, JSON.stringify(this.#now()));
  }

  /** Beats every BEAT_MS until stop(); failures are logged, the next beat tries again. */
  start(): void {
    if (this.#beat) return;
    const tick = () =>
      void this.beat().catch((err) => this.o.log?.(`nonce history beat failed: ${(err as Error).message}`));
    tick();
    this.#beat = setInterval(tick, BEAT_MS);
    this.#beat.unref();
  }

  stop(): void {
    clearInterval(this.#beat);
    this.#beat = undefined;
  }
}
