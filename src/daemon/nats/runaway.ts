// When a nats-server child has run away on a damaged copy, and which copy.
//
// nats-server reads a message block whose bytes were inverted on disk
// without bound (bench/repro-corrupt-follower.ts, HOW=bitflip, nats-server
// alone on loopback). 2.10.27 restores the copy and turns healthy; once the
// node is made that stream's leader, its memory grows to 5-6 GB within
// seconds and its monitor and its clients get no answer, for as long as it
// runs. 2.15.1 never finishes the stream's restore ("Starting restore for
// stream" with no "Restored ... for stream"): 23 GB within a minute, never
// ready. A restart alone brings either back to the same place. In a combined
// chaos run this left a node's monitor silent for minutes and its JetStream
// API queue full.
//
// So the supervisor watches its child every WATCH_MS (1 s): a process that is not
// stopped (a SIGSTOP is an operator's or the chaos play's pause, and is
// left alone) whose monitor has not answered for SILENT_MS, or whose
// resident memory passes the bound (2 GiB, or half the machine's if less)
// with its monitor silent, has run away. It is killed (a hung
// process does not go through lame duck), the copies the log points at are
// moved aside while it is down, and it starts again: the node rejoins those
// streams empty and their leaders send them again.
//
// Invariants:
// - Suspects come from the child itself: a stream whose restore began and
//   did not end, or whose stored messages took seconds to read ("Internal
//   subscription on $JS.API.STREAM.MSG.GET.<stream> took too long: 24.7s"
//   in a combined chaos run, from a follower's bit-flipped copy); failing
//   those, the streams it leads, as its monitor last said (every
//   LED_LOOK_MS while it answers) and its log since. A damaged leader ran
//   away only once written to (42 s after it took the lead in one test
//   run), so "led lately" would not do.
// - A second runaway within REBUILD_EVERY_MS moves every replicated copy
//   aside, whatever was suspected: the node rejoins every stream empty. A
//   follower's copy read by this node's own clients ran away with no word
//   in the log, and the streams it led were moved aside instead.
// - A copy of one replica is never moved (it is the only copy): the child is
//   restarted, and the log says so.
// - A copy the child says stopped applying ("critical write error", on a
//   bit-flipped block) is moved aside too, through a graceful restart (its
//   leaderships handed off first): it never applies that stream again
//   otherwise. Its other replicas hold every committed entry (a majority of
//   them did, this one among them). So is a copy the child found corrupt
//   bytes in (CORRUPT_BYTES), once the child is ready: its counts can be
//   whole, and nothing else sees it.
// - A stream's copy is moved at most once per REBUILD_EVERY_MS (the replica
//   audit's bound); nothing is deleted, it goes to <store>/quarantine/.
// - Pure but for readProc, readCopyOnDisk and listCopiesOnDisk, which read files.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * How often the child is looked at: its memory grew by 1-5 GB per second
 * in the repro, so a bound on it must be read often (one /proc read and one
 * loopback request).
 */
export const WATCH_MS = 1000;
/**
 * Monitor silence that means a runaway. A busy node answers its monitor
 * within a second; the longest pause the chaos play holds (30 s) is skipped
 * as stopped, not counted. Twice the stall watch's first wait at most.
 */
export const SILENT_MS = 30_000;
/** How often the streams the child leads are read from its monitor while it answers. */
export const LED_LOOK_MS = 5000;

const RESTORE_START = /Starting restore for stream '([^']+) > ([^']+)'/;
const RESTORE_DONE = /Restored [\d,]+ messages for stream '([^']+) > ([^']+)'/;
const NEW_LEADER = /JetStream cluster new stream leader for '([^']+) > ([^']+)'/;
/** A read of stored messages that held the server's API handler for seconds: the subject names the stream, not its account. */
const SLOW_READ = /Internal subscription on "\$JS\.API\.(?:STREAM\.MSG\.GET|DIRECT\.GET)\.([^."]+)[^"]*" took too long/;
/**
 * A copy that stopped applying its stream: nats-server 2.15.1, meeting a
 * bit-flipped block while it stores ("malformed or corrupt message in
 * 3.blk: invalid checksum"), logs this and applies nothing more of that
 * stream, for good (a local chaos run: lag 16,960 after 120 s; another left
 * the stream with no leader at all).
 */
const CRITICAL_WRITE = /JetStream stream '([^']+) > ([^']+)' critical write error/;
/** A filestore line about a stream's copy (group 1 names the stream): never a raft group's own store (S-R3F-..., _meta_). */
const FILESTORE = String.raw`Filestore \[(?!_meta_\]|S-R\d+F-)([^\]]+)\] `;
/**
 * A copy nats-server rebuilt from its message blocks at a start, the index
 * it wrote at its last stop not matching them: after a kill, and after a
 * block cut short while it was stopped alike ("Stream state outdated, last
 * block has additional entries, will rebuild" in both, a local chaos run).
 * Raft holds no record of what such a copy lost: elected, it serves without
 * it (replica-audit.ts). The line names the stream, not its account; a raft
 * group's own store (S-R3F-..., _meta_) is not a stream copy.
 */
const REBUILT = new RegExp(`${FILESTORE}(?:Stream state outdated|Recovering stream state from index errored|Stream state detected prior state|Stream state too short|Stream state encountered internal inconsistency)`);
/**
 * Bytes of a copy that nats-server found corrupt as it read them: a block
 * with inverted bytes ("indexCacheBuf corrupt record state" as it loads the
 * block, "malformed or corrupt message in 4.blk: invalid checksum" as it
 * reads a message, and as it loads one to send a follower catching up).
 * The counts of such a copy can be whole, so the replica audit does not
 * see it; led, it answered older values (a combined chaos
 * run: 975 index entries lost to compare-and-sets it accepted), and the
 * deep check's reader found such copies "stopped answering" in the
 * corrupt-family runs of both releases. The line names the stream, not its
 * account.
 */
const CORRUPT_BYTES = new RegExp(`${FILESTORE}(?:indexCacheBuf corrupt record state|Ignoring non-write error: malformed or corrupt message)`);
/** The same, met as the child loads a message to send a follower catching up (a leader's bit-flipped copy: the follower's catch-up stalled for good). */
const CORRUPT_CATCHUP = /Error loading message for catchup '[^']+ > ([^']+)': malformed or corrupt message/;

export interface StreamRef { account: string; stream: string }

/** A copy rebuilt from its blocks at a start, or an election this child won (its log names the stream). */
export interface CopyNews { kind: 'rebuilt' | 'led'; stream: string }

const keyOf = (r: StreamRef) => `${r.account} > ${r.stream}`;

/** What the child's log and monitor say of the streams it restores and leads. */
export class StreamLog {
  #restoring = new Map<string, StreamRef>();
  #led = new Map<string, StreamRef>();
  #slow = new Set<string>();
  #stuck = new Map<string, StreamRef>();
  #corrupt = new Map<string, string>();
  #rebuilt = new Set<string>();
  #news: CopyNews[] = [];

  /** Feeds one log line. */
  see(line: string): void {
    const ref = (m: RegExpExecArray): StreamRef => ({ account: m[1]!, stream: m[2]! });
    let m = REBUILT.exec(line);
    if (m) {
      if (!this.#rebuilt.has(m[1]!)) this.#news.push({ kind: 'rebuilt', stream: m[1]! });
      this.#rebuilt.add(m[1]!);
      return;
    }
    m = RESTORE_START.exec(line);
    if (m) {
      this.#restoring.set(keyOf(ref(m)), ref(m));
      return;
    }
    m = RESTORE_DONE.exec(line);
    if (m) {
      this.#restoring.delete(keyOf(ref(m)));
      return;
    }
    m = NEW_LEADER.exec(line);
    if (m) {
      this.#led.set(keyOf(ref(m)), ref(m));
      this.#news.push({ kind: 'led', stream: m[2]! });
      return;
    }
    m = CRITICAL_WRITE.exec(line);
    if (m) {
      this.#stuck.set(keyOf(ref(m)), ref(m));
      return;
    }
    m = CORRUPT_BYTES.exec(line) ?? CORRUPT_CATCHUP.exec(line);
    if (m) {
      if (!this.#corrupt.has(m[1]!)) this.#corrupt.set(m[1]!, line.replace(/^.*?\[(?:WRN|ERR)\] (?:Filestore \[[^\]]+\] )?/, '').slice(0, 160));
      return;
    }
    m = SLOW_READ.exec(line);
    if (m) this.#slow.add(m[1]!);
  }

  /** The copies whose bytes nats-server found corrupt since the last call, each with the line's words (account '': the line names the stream only). */
  takeCorrupt(): { ref: StreamRef; said: string }[] {
    const out = [...this.#corrupt].map(([stream, said]) => ({ ref: { account: '', stream }, said }));
    this.#corrupt.clear();
    return out;
  }

  /** The copies that stopped applying (a critical write error) since the last call: each named once. */
  takeStuck(): StreamRef[] {
    const out = [...this.#stuck.values()];
    this.#stuck.clear();
    return out;
  }

  /** What the lines since the last call said of this child's copies: each rebuilt copy once, each election won. */
  takeNews(): CopyNews[] {
    const out = this.#news;
    this.#news = [];
    return out;
  }

  /** The streams the child leads, as its log and monitor last said. */
  get led(): StreamRef[] {
    return [...this.#led.values()];
  }

  /** The copies this child rebuilt from their blocks at its start. */
  get rebuilt(): string[] {
    return [...this.#rebuilt];
  }

  /** The streams the monitor says the child leads now: they replace what the log said before. */
  setLed(refs: StreamRef[]): void {
    this.#led = new Map(refs.map((r) => [keyOf(r), r]));
  }

  /** A new child: its restores start again, it leads nothing yet. */
  reset(): void {
    this.#restoring.clear();
    this.#led.clear();
    this.#slow.clear();
    this.#stuck.clear();
    this.#corrupt.clear();
    this.#rebuilt.clear();
    this.#news = [];
  }

  /**
   * The streams to suspect: those whose restore has not ended and those whose
   * reads took seconds (account '' when only the stream is named); when there
   * are none, those the child leads.
   */
  suspects(): StreamRef[] {
    const direct = new Map<string, StreamRef>(this.#restoring);
    for (const stream of this.#slow) if (![...direct.values()].some((r) => r.stream === stream)) direct.set(` > ${stream}`, { account: '', stream });
    return [...(direct.size ? direct : this.#led).values()];
  }

  /** Whether a restore began and has not ended. */
  get restoring(): StreamRef[] {
    return [...this.#restoring.values()];
  }
}

export interface ProcLook {
  /** /proc state letter: R running, S sleeping, D disk, T stopped, Z zombie. */
  state: string;
  rssBytes: number;
}

export interface ChildLook {
  /** The monitor answered this look. */
  answered: boolean;
  /** null when the process could not be read (gone). */
  proc: ProcLook | null;
}

export type RunawayVerdict = { why: string; silentSinceMs: number } | null;

/** Judges the looks at one child; forgets on reset (a new child). */
export class RunawayWatch {
  #lastAnswer: number;
  constructor(
    private readonly silentMs = SILENT_MS,
    private readonly maxRssBytes = Infinity,
    now = Date.now(),
  ) {
    this.#lastAnswer = now;
  }

  reset(now: number): void {
    this.#lastAnswer = now;
  }

  observe(look: ChildLook, now: number): RunawayVerdict {
    const p = look.proc;
    if (look.answered || !p || p.state === 'Z') {
      if (look.answered) this.#lastAnswer = now;
      return null;
    }
    // Stopped on purpose: the silence is the pause's, and starts afresh at its end.
    if (p.state === 'T' || p.state === 't') {
      this.#lastAnswer = now;
      return null;
    }
    const mib = Math.round(p.rssBytes / 2 ** 20);
    if (p.rssBytes > this.maxRssBytes) {
      return { why: `its memory reached ${mib} MiB (bound ${Math.round(this.maxRssBytes / 2 ** 20)} MiB) with its monitor silent`, silentSinceMs: this.#lastAnswer };
    }
    const silent = now - this.#lastAnswer;
    if (silent < this.silentMs) return null;
    return { why: `its monitor has not answered for ${Math.round(silent / 1000)} s while it runs (state ${p.state}, ${mib} MiB resident)`, silentSinceMs: this.#lastAnswer };
  }
}

/**
 * What a runaway moves aside: its suspects, or, the second time within
 * REBUILD_EVERY_MS, every copy (`all`), and how the log says it.
 */
export function planMoveAside(suspects: StreamRef[], lastRunawayMs: number, now: number, everyMs: number): { all: boolean; what: string } {
  if (now - lastRunawayMs < everyMs) return { all: true, what: `the second time in ${everyMs / 60_000} min: moving aside every replicated copy, to rejoin each stream empty` };
  if (!suspects.length) return { all: false, what: 'no copy to suspect (it restored and led none)' };
  return { all: false, what: `moving aside its copy of ${suspects.map((r) => r.stream).join(', ')} (restored, slow to read, or led when it ran away)` };
}

/** Each ref with its account; one named by its stream alone takes the account whose store holds it (dropped when none does). */
export function resolveRefs(refs: StreamRef[], onDisk: StreamRef[]): StreamRef[] {
  return refs.flatMap((r) => (r.account ? [r] : onDisk.filter((d) => d.stream === r.stream).slice(0, 1)));
}

/** The state letter and resident bytes of a process, from /proc; null when it is gone. */
export async function readProc(pid: number): Promise<ProcLook | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { state, rssBytes: kib * 1024 };
  } catch {
    return null;
  }
}

/** A copy on disk, as the supervisor can find it while nats-server is down. */
export interface CopyOnDisk extends StreamRef {
  replicas: number;
  raftGroup?: string;
}

/** Every stream copy in the store (each account's streams folder). */
export async function listCopiesOnDisk(storeDir: string): Promise<StreamRef[]> {
  const js = join(storeDir, 'jetstream');
  const out: StreamRef[] = [];
  for (const account of await readdir(js).catch(() => [] as string[])) {
    if (account === '$SYS') continue;
    for (const stream of await readdir(join(js, account, 'streams')).catch(() => [] as string[])) out.push({ account, stream });
  }
  return out.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
}

/**
 * The copy's replica count (its meta.inf) and raft group folder (the one whose
 * meta.inf names the stream), read from the store while the child is down.
 * null when the node holds no such copy.
 */
export async function readCopyOnDisk(storeDir: string, ref: StreamRef): Promise<CopyOnDisk | null> {
  const js = join(storeDir, 'jetstream');
  let replicas: number;
  try {
    const meta = JSON.parse(await readFile(join(js, ref.account, 'streams', ref.stream, 'meta.inf'), 'utf8')) as { num_replicas?: number };
    replicas = meta.num_replicas ?? 1;
  } catch {
    return null;
  }
  const groups = join(js, '$SYS', '_js_');
  for (const g of await readdir(groups).catch(() => [] as string[])) {
    if (!g.startsWith('S-')) continue;
    try {
      const m = JSON.parse(await readFile(join(groups, g, 'meta.inf'), 'utf8')) as { metadata?: { account?: string; stream?: string; type?: string } };
      if (m.metadata?.type === 'stream' && m.metadata.account === ref.account && m.metadata.stream === ref.stream) return { ...ref, replicas, raftGroup: g };
    } catch {
      // a group folder without a readable meta.inf: not this one
    }
  }
  return { ...ref, replicas };
}
