// The chaos run's history: every operation the workload made and every fault
// the nemesis injected, one JSON line each, in out/chaos/<run>/.
//
// Invariants:
// - An operation is written once, when it completes: its invoke and complete
//   times are on the workload's monotonic clock (ms since the run's start),
//   its wall time is the controller's clock at invoke. Every client of a run
//   lives in one process, so their monotonic times compare.
// - `type` is Jepsen's: ok (a 2xx reply), fail (a reply that says it did not
//   happen: 4xx, or 5xx from the daemon's refusals), info (no reply, or a
//   reply that leaves it open: it may or may not have happened).
// - A fault's window is [start, end] on the same monotonic clock: from the
//   moment it was injected to the moment its heal was done. `no_quorum` names
//   the nodes that had no quorum inside it (a minority side, the live nodes of
//   a paused majority, every node of a whole-cluster fault).
import { appendFileSync, closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';

export const OPS_FILE = 'ops.ndjson';
export const FAULTS_FILE = 'faults.ndjson';
/** The final reads of the last check (replaced by each check). */
export const FINAL_FILE = 'final.ndjson';
/** {t0_wall}: the wall time of the workload's monotonic zero, for the faults other processes record. */
export const CLOCK_FILE = 'clock.json';

export type OpType = 'ok' | 'fail' | 'info';

/**
 * The operations:
 *   add-room      a workload user creates a room: the grow-only set rooms(user) gains `value`
 *   read-rooms    GET /v1/rooms of a user: `read` is that set as the node serves it
 *   add-member    a room's owner adds a user: the set members(room) gains `value`
 *   read-members  GET /v1/rooms/:room as its owner: `read` is members(room)
 *   final-read    a read-rooms or read-members through every node after healing (f_of says which)
 *   replay        a request already accepted, sent again with its nonce (`nonce`) to another node
 *   add-user, revoke   the revocation probe's admin writes (key: the throwaway user)
 *   user-request  a request signed by the revocation probe's user (key: that user), before or after its revoke
 *   nats-connect  a NATS connection with a user's nkey (key: user), to one node
 *   dp-publish, dp-reconnect, dp-cross   the data plane's (data-plane.ts)
 */
export type OpKind = 'add-room' | 'read-rooms' | 'add-member' | 'read-members' | 'final-read' | 'replay' | 'add-user' | 'revoke' | 'user-request' | 'nats-connect' | 'dp-publish' | 'dp-reconnect' | 'dp-cross' | 'floor-write';

export interface Op {
  id: number;
  /** The client that made it: `<node>/<n>`, or a probe's name. */
  client: string;
  node: string;
  f: OpKind;
  /** For final-read: the kind of read it is. */
  f_of?: 'read-rooms' | 'read-members';
  /** The set the op is about: `rooms:<user>` or `members:<room>`; for the probes, the user. */
  key?: string;
  /** The element an add adds. */
  value?: string;
  /** A refusal's message, shortened (the error's code is in `error`). */
  message?: string;
  /** The user who signed it. */
  user?: string;
  /** The request's nonce (signed requests). */
  nonce?: string;
  invoke: number;
  complete: number;
  wall: number;
  type: OpType;
  /** HTTP status; 0 when no reply came. */
  status: number;
  error?: string;
  /** What a read returned (ok reads only). */
  read?: string[];
}

export const FAULT_FAMILIES = ['kill', 'pause', 'partition', 'restart', 'corrupt', 'skew'] as const;
export type FaultFamily = (typeof FAULT_FAMILIES)[number];

export interface FaultRecord {
  id: number;
  family: FaultFamily;
  /** What was done, in words: "kill n2 (stream leader of KV_unibus_rooms)". */
  name: string;
  targets: string[];
  /** The nodes without quorum inside the window: none of their 2xx may be answered inside it. */
  no_quorum: string[];
  start: number;
  end: number;
  wall: number;
}

export class HistoryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HistoryError';
  }
}

const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

/**
 * Parses one NDJSON file strictly, naming the file and line of a bad one. A
 * torn last line (the writer killed mid-line) is an op that never completed
 * and is skipped.
 */
export function parseNdjson<T>(file: string, text: string | string[], check: (o: Record<string, unknown>) => string | null): T[] {
  const out: T[] = [];
  const lines = typeof text === 'string' ? text.split('\n') : text;
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      if (i === lines.length - 1) continue;
      throw new HistoryError(`${file}:${i + 1}: malformed JSON (${(e as Error).message})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new HistoryError(`${file}:${i + 1}: expected a JSON object`);
    const bad = check(o as Record<string, unknown>);
    if (bad) throw new HistoryError(`${file}:${i + 1}: ${bad}`);
    out.push(o as T);
  }
  return out;
}

const OP_TYPES = new Set(['ok', 'fail', 'info']);

export function parseOps(file: string, text: string | string[]): Op[] {
  return parseNdjson<Op>(file, text, (o) => {
    for (const k of ['id', 'invoke', 'complete', 'wall', 'status']) if (!isNum(o[k])) return `${k}: expected a number`;
    for (const k of ['client', 'node', 'f']) if (typeof o[k] !== 'string' || !o[k]) return `${k}: expected a non-empty string`;
    if (!OP_TYPES.has(o.type as string)) return `type: expected ok, fail or info, got ${JSON.stringify(o.type)}`;
    if (o.read !== undefined && !(Array.isArray(o.read) && o.read.every((x) => typeof x === 'string'))) return 'read: expected a list of strings';
    return null;
  });
}

export function parseFaults(file: string, text: string | string[]): FaultRecord[] {
  return parseNdjson<FaultRecord>(file, text, (o) => {
    for (const k of ['id', 'start', 'end', 'wall']) if (!isNum(o[k])) return `${k}: expected a number`;
    for (const k of ['targets', 'no_quorum']) if (!Array.isArray(o[k])) return `${k}: expected a list of node names`;
    if (typeof o.family !== 'string' || typeof o.name !== 'string') return 'family, name: expected strings';
    return null;
  });
}

/** A file's bytes, or null when it is absent. */
function readBytes(file: string): Buffer | null {
  try {
    return readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new HistoryError(`${file}: cannot read (${(e as Error).message})`, { cause: e });
  }
}

/**
 * The lines of buf[0, end), split as bytes: a long run's journal outgrows the
 * longest string V8 makes (512 MiB; a 300 s combined run wrote 630 MB, each
 * read's answer kept whole).
 */
function splitLines(buf: Buffer, end = buf.length): string[] {
  const lines: string[] = [];
  for (let at = 0; at < end; ) {
    const nl = buf.indexOf(0x0a, at);
    const stop = nl === -1 || nl > end ? end : nl;
    lines.push(buf.toString('utf8', at, stop));
    at = stop + 1;
  }
  return lines;
}

/** A file's lines (none when it is absent). */
export function readLines(file: string): string[] {
  const buf = readBytes(file);
  return buf ? splitLines(buf) : [];
}

export function readHistory(runDir: string): { ops: Op[]; faults: FaultRecord[] } {
  const file = (f: string) => join(runDir, f);
  return {
    ops: [...parseOps(file(OPS_FILE), readLines(file(OPS_FILE))), ...parseOps(file(FINAL_FILE), readLines(file(FINAL_FILE)))],
    faults: parseFaults(file(FAULTS_FILE), readLines(file(FAULTS_FILE))),
  };
}

/**
 * The ops the workload journaled from byte `offset` of its journal on, whole
 * lines only, and the offset after the last of them: a wait that polls the
 * journal reads only what was added since its last look.
 */
export function readOpsFrom(runDir: string, offset: number): { ops: Op[]; offset: number } {
  const file = join(runDir, OPS_FILE);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ops: [], offset };
    throw new HistoryError(`${file}: cannot read (${(e as Error).message})`, { cause: e });
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return { ops: [], offset };
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    const end = buf.lastIndexOf(0x0a, n - 1);
    if (end < 0) return { ops: [], offset };
    return { ops: parseOps(file, splitLines(buf, end)), offset: offset + end + 1 };
  } finally {
    closeSync(fd);
  }
}

/** The workload's clock: a wall time (ms since the epoch) as ms since the run's start. Null before the workload wrote it. */
export function readClock(runDir: string): ((wall: number) => number) | null {
  const text = readBytes(join(runDir, CLOCK_FILE))?.toString('utf8') ?? '';
  if (!text) return null;
  const t0 = (JSON.parse(text) as { t0_wall?: unknown }).t0_wall;
  if (!isNum(t0)) throw new HistoryError(`${join(runDir, CLOCK_FILE)}: t0_wall: expected a number`);
  return (wall) => wall - (t0 as number);
}

/**
 * Appends a fault that lasted from `startWall` to `endWall` (controller wall
 * times) to the run's faults.ndjson, on the workload's clock; an error when
 * the workload has not started (no clock yet).
 */
export function recordFault(runDir: string, f: Pick<FaultRecord, 'family' | 'name' | 'targets' | 'no_quorum'>, startWall: number, endWall: number): FaultRecord {
  const clock = readClock(runDir);
  if (!clock) throw new Error(`${runDir}: no workload clock (clock.json): the workload has not started`);
  const fault: FaultRecord = { id: startWall, ...f, start: clock(startWall), end: clock(endWall), wall: startWall };
  appendFileSync(join(runDir, FAULTS_FILE), JSON.stringify(fault) + '\n', { mode: 0o600 });
  return fault;
}

/**
 * Jepsen's reading of an HTTP reply. A read has no effect, so anything but a
 * 2xx is a fail. A write: 2xx ok; 4xx fail (the daemon refused it before
 * writing), except 408 and 429; no reply, 408, 429 and 5xx info (a 503 may
 * come after the write was proposed, which may still commit).
 */
export function typeOfStatus(status: number, read: boolean): OpType {
  if (status >= 200 && status < 300) return 'ok';
  if (read) return 'fail';
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'fail';
  return 'info';
}
