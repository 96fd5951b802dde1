// The chaos run's journal and what it proves. The workload appends one line
// per HTTP attempt to writes.ndjson; controller tasks append the minority
// window's bounds to markers.ndjson. Both live in out/chaos/<run>/. The
// verdict is pure (no I/O): counts, requests served without quorum, and the
// acknowledged writes that the read-back must find on every node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const WRITES_FILE = 'writes.ndjson';
export const MARKERS_FILE = 'markers.ndjson';
export const LATEST_FILE = 'latest';
export const WORKLOAD_PID_FILE = 'workload.pid';
/** The workload's step program (src/controller/steps/<name>.ts or dist/controller/steps/<name>.js). */
export const WORKLOAD_PROGRAM = 'chaos-workload';
const WORKLOAD_FILE = new RegExp(`steps/${WORKLOAD_PROGRAM}\\.[jt]s$`);

/**
 * The PID a workload pid file (`PID\nCONFIG`) records, when that process is
 * still the workload: its command line names the program and the file's
 * config. `cmdline` reads /proc/PID/cmdline (null when there is none; a
 * zombie's is empty). Shared by the module's facts and the stop step.
 */
export async function workloadPidOf(pidFileText: string | null, cmdline: (pid: number) => Promise<string | null>): Promise<number | null> {
  if (!pidFileText) return null;
  const [pidText, config] = pidFileText.split('\n');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1) return null;
  const cmd = await cmdline(pid);
  if (!cmd) return null;
  const argv = cmd.split('\0');
  return argv.some((a) => WORKLOAD_FILE.test(a)) && (!config || argv.includes(config)) ? pid : null;
}

/** One HTTP attempt of the workload (times are ms since the epoch, on the controller's clock). */
export interface Attempt {
  seq: number;
  attempt: number;
  node: string;
  /** What was written: the room created. */
  room: string;
  sent_at: number;
  replied_at: number;
  /** HTTP status; 0 when no reply came (refused, reset, timed out). */
  status: number;
  error?: string;
}

export type Marker =
  | { mark: 'minority_start'; at: number; minority: string; frozen: string[] }
  | { mark: 'minority_end'; at: number; minority: string };

export interface ChaosWindow {
  start: number;
  end: number;
  minority: string;
  frozen: string[];
}

export interface ChaosSummary {
  run: string;
  sent: number;
  /** Writes (distinct seq) with a 2xx reply. */
  acked: number;
  /** Writes whose every attempt failed. */
  failed: number;
  /** Attempts after a write's first one. */
  retried: number;
  /** Attempts sent to the minority node inside the window and refused (non-2xx or no reply). */
  refused_without_quorum: number;
  window: ChaosWindow | null;
  /** room -> the node and time that acknowledged it. */
  acked_rooms: Map<string, { node: string; at: number }>;
  violations: string[];
}

export class ChaosJournalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ChaosJournalError';
  }
}

const ok2xx = (s: number) => s >= 200 && s < 300;

function parseLines<T>(file: string, text: string, check: (o: Record<string, unknown>) => string | null): T[] {
  const out: T[] = [];
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    // A workload killed mid-write leaves a torn last line: that attempt never completed.
    if (i === lines.length - 1) {
      try {
        JSON.parse(line);
      } catch {
        continue;
      }
    }
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new ChaosJournalError(`${file}:${i + 1}: malformed JSON (${(e as Error).message})`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new ChaosJournalError(`${file}:${i + 1}: expected a JSON object`);
    const bad = check(o as Record<string, unknown>);
    if (bad) throw new ChaosJournalError(`${file}:${i + 1}: ${bad}`);
    out.push(o as T);
  }
  return out;
}

const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

export function parseAttempts(file: string, text: string): Attempt[] {
  return parseLines<Attempt>(file, text, (o) => {
    for (const k of ['seq', 'attempt', 'sent_at', 'replied_at', 'status']) if (!isNum(o[k])) return `${k}: expected a number`;
    for (const k of ['node', 'room']) if (typeof o[k] !== 'string' || !o[k]) return `${k}: expected a non-empty string`;
    return null;
  });
}

export function parseMarkers(file: string, text: string): Marker[] {
  return parseLines<Marker>(file, text, (o) => {
    if (o.mark !== 'minority_start' && o.mark !== 'minority_end') return `mark: expected minority_start or minority_end, got ${JSON.stringify(o.mark)}`;
    if (!isNum(o.at)) return 'at: expected a time in ms';
    if (typeof o.minority !== 'string') return 'minority: expected a node name';
    return null;
  });
}

export function readJournal(runDir: string): { attempts: Attempt[]; markers: Marker[] } {
  const read = (f: string) => {
    try {
      return readFileSync(join(runDir, f), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw new ChaosJournalError(`${join(runDir, f)}: cannot read (${(e as Error).message})`, { cause: e });
    }
  };
  return { attempts: parseAttempts(join(runDir, WRITES_FILE), read(WRITES_FILE)), markers: parseMarkers(join(runDir, MARKERS_FILE), read(MARKERS_FILE)) };
}

function windowOf(markers: Marker[]): ChaosWindow | null {
  const s = markers.find((m) => m.mark === 'minority_start');
  if (!s || s.mark !== 'minority_start') return null;
  const e = markers.find((m) => m.mark === 'minority_end' && m.at >= s.at);
  return e ? { start: s.at, end: e.at, minority: s.minority, frozen: s.frozen ?? [] } : null;
}

/**
 * The verdict of a journal, before the read-back. Served without quorum: a
 * 2xx sent after the freeze had taken effect and answered before the thaw
 * began, by any node (the minority has no quorum, the frozen ones no live
 * server). A request sent inside the window but answered after the thaw was
 * committed with quorum back and is not a violation.
 */
export function summarizeJournal(run: string, attempts: Attempt[], markers: Marker[], opts: { requireWindow?: boolean } = {}): ChaosSummary {
  const window = windowOf(markers);
  const violations: string[] = [];
  const ackedRooms = new Map<string, { node: string; at: number }>();
  const seqs = new Set<number>();
  const ackedSeqs = new Set<number>();
  let retried = 0;
  let refused = 0;
  for (const a of attempts) {
    seqs.add(a.seq);
    if (a.attempt > 1) retried++;
    if (ok2xx(a.status)) {
      ackedSeqs.add(a.seq);
      if (!ackedRooms.has(a.room)) ackedRooms.set(a.room, { node: a.node, at: a.replied_at });
    }
    if (!window) continue;
    const inside = a.sent_at >= window.start && a.sent_at <= window.end;
    if (inside && ok2xx(a.status) && a.replied_at <= window.end) {
      violations.push(`served without quorum: ${a.node} answered ${a.status} to write ${a.seq} (room ${a.room}) sent ${a.sent_at - window.start} ms into the minority window and answered before the thaw`);
    }
    if (inside && a.node === window.minority && !ok2xx(a.status)) refused++;
  }
  if (opts.requireWindow !== false) {
    if (!window) violations.push('no minority window in the journal (minority_start and minority_end markers): quorum loss was not exercised');
    else if (refused === 0) violations.push(`no request reached the minority node ${window.minority} inside the minority window: quorum loss was not exercised`);
  }
  if (ackedSeqs.size === 0) violations.push('no write was acknowledged: the workload proved nothing');
  return {
    run,
    sent: attempts.length,
    acked: ackedSeqs.size,
    failed: seqs.size - ackedSeqs.size,
    retried,
    refused_without_quorum: refused,
    window,
    acked_rooms: ackedRooms,
    violations,
  };
}

/** Violations for acknowledged rooms that a node's read-back did not find. */
export function lostWrites(acked: ChaosSummary['acked_rooms'], missingByNode: Record<string, string[]>): string[] {
  const byRoom = new Map<string, string[]>();
  for (const [node, rooms] of Object.entries(missingByNode)) {
    for (const r of rooms) byRoom.set(r, [...(byRoom.get(r) ?? []), node]);
  }
  const out: string[] = [];
  for (const [room, nodes] of byRoom) {
    const a = acked.get(room);
    out.push(`acknowledged write lost: room ${room}${a ? ` (acknowledged by ${a.node} at ${new Date(a.at).toISOString()})` : ''} missing on ${nodes.sort().join(', ')}`);
  }
  return out;
}

export function formatCounts(s: ChaosSummary): string {
  const w = s.window ? `, minority ${s.window.minority} for ${((s.window.end - s.window.start) / 1000).toFixed(1)} s` : '';
  return `sent ${s.sent}, acked ${s.acked}, failed ${s.failed}, retried ${s.retried}, refused-without-quorum ${s.refused_without_quorum}${w}, violations ${s.violations.length}`;
}
