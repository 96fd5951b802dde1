// The deploy lock: a lease file on every target host, so two runs never race.
//
// The lease is <stateDir>/lock.json. Every step (acquire, heartbeat, release)
// is one `sh -c` on the host, serialised by `flock` on <stateDir>/lock.guard:
// create-if-absent, the staleness test and a takeover are thus atomic on the
// host, whatever number of controllers race. Staleness uses the host's own
// clock (the file's mtime, refreshed by each heartbeat), so controller clock
// skew does not matter. The lease content is complete when it appears: it is
// written to a temp file and renamed into place.
//
// Check mode never writes a lease (it is a host write): it only reads the lease
// and judges it as a real run would (see peekLease), so that a check refuses,
// waits or reports a takeover exactly where the run it previews would.
import { hostname, userInfo } from 'node:os';
import { randomUUID } from 'node:crypto';
import { UnibusError } from '../errors.js';
import type { Transport } from '../transport/types.js';

export interface Lease {
  owner: string;
  pid: number;
  playbook: string;
  started: string;
  token: string;
  ttl_s: number;
}

export class LockHeldError extends UnibusError {
  constructor(readonly host: string, readonly holder: Lease | null, readonly ageS: number) {
    super(
      `${host}: deploy lock held by ${holder ? `${holder.owner} (pid ${holder.pid}, playbook ${holder.playbook}, since ${holder.started})` : 'an unknown run'}; ` +
        `last heartbeat ${ageS}s ago. Wait with --lock-wait SECONDS, or retry when it is released.`,
    );
  }
}

export class LockError extends UnibusError {}

export const DEFAULT_TTL_S = 60;
export const HEARTBEAT_MS = 5_000;

const GUARD = 'umask 077; d="$1"; mkdir -p "$d"; exec 9>"$d/lock.guard"; flock -w 10 9 || exit 20; f="$d/lock.json"';
const AGE = 'age=$(( $(date +%s) - $(stat -c %Y "$f") ))';

// With a third argument, a file of the state folder (the pending handlers) is
// printed after MARK too: one round trip instead of two at the start of a run.
export const STATE_FILE_MARK = '@@unibus-state-file@@';
const MARK = STATE_FILE_MARK;
const TRAILER = `if [ -n "$3" ]; then printf '\\n%s\\n' '${MARK}'; cat -- "$d/$3" 2>/dev/null; fi`;

// exit 0 taken, 10 held (prints age and lease), 11 taken over (prints the old lease)
const ACQUIRE = `${GUARD}; ttl="$2"
if [ -e "$f" ]; then ${AGE}
  if [ "$age" -lt "$ttl" ]; then echo "$age"; cat "$f"; exit 10; fi
  echo "$age"; cat "$f"; cat > "$f.tmp" && mv -f "$f.tmp" "$f"; ${TRAILER}; exit 11
fi
cat > "$f.tmp" && mv -f "$f.tmp" "$f" || exit 21
${TRAILER}; exit 0`;

// Replaces the lease only if it is still the one given by token (exit 10 otherwise).
const TAKEOVER = `${GUARD}; grep -qF "$2" "$f" 2>/dev/null || exit 10; cat > "$f.tmp" && mv -f "$f.tmp" "$f"`;

// exit 0 refreshed, 12 lost (someone else's lease, or none)
const HEARTBEAT = `${GUARD}; grep -qF "$2" "$f" 2>/dev/null || exit 12; touch "$f"`;
// With a third argument, stdin is appended to <$3>/audit.log in the same round trip.
const RELEASE = `${GUARD}; if grep -qF "$2" "$f" 2>/dev/null; then rm -f "$f"; fi
if [ -n "$3" ]; then umask 027; mkdir -p "$3" && cat >> "$3/audit.log" || exit 22; fi`;
const PEEK = `d="$1"; f="$d/lock.json"; if [ -e "$f" ]; then ${AGE}; echo "$age"; cat "$f"; fi; ${TRAILER}; [ -e "$f" ] && exit 10; exit 0`;

/** Splits a script's output into its own part and the state file printed after MARK (null: absent or not asked). */
function splitTrailer(stdout: string): [string, string | null] {
  const i = stdout.indexOf(`\n${MARK}\n`);
  if (i < 0) return [stdout, null];
  const file = stdout.slice(i + MARK.length + 2);
  return [stdout.slice(0, i), file.length ? file : null];
}

function sh(script: string, ...args: string[]): string[] {
  return ['sh', '-c', script, 'unibus-lock', ...args];
}

function parseHeld(stdout: string): { age: number; lease: Lease | null } {
  const nl = stdout.indexOf('\n');
  const age = Number(stdout.slice(0, nl < 0 ? undefined : nl)) || 0;
  try {
    return { age, lease: JSON.parse(stdout.slice(nl + 1)) as Lease };
  } catch {
    return { age, lease: null };
  }
}

export function newLease(playbook: string, ttlS = DEFAULT_TTL_S): Lease {
  return {
    owner: `${userInfo().username}@${hostname()}`,
    pid: process.pid,
    playbook,
    started: new Date().toISOString(),
    token: randomUUID(),
    ttl_s: ttlS,
  };
}

/** The holder ran on this controller as this user, and its process no longer exists. */
function isDeadLocalHolder(holder: Lease, me: Lease): boolean {
  if (holder.owner !== me.owner || !Number.isInteger(holder.pid) || holder.pid === me.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A held lease that a run takes over: its holder (null when unreadable) and its heartbeat's age. */
export interface StaleHolder {
  lease: Lease | null;
  ageS: number;
}

export interface AcquireResult {
  /** Set when a stale lease was taken over: the previous holder. */
  tookOver?: StaleHolder;
  /** The state file asked for (readFile), null when absent. */
  file?: string | null;
}

export interface PeekResult {
  /** Set when the lease is held but a run would take it over: the holder. */
  wouldTakeOver?: StaleHolder;
  /** The state file asked for (readFile), null when absent. */
  file?: string | null;
}

/**
 * Takes the lease on one host, waiting up to waitS seconds (polling) while a
 * fresh lease is held by someone else. Throws LockHeldError when still held.
 */
export async function acquireLease(t: Transport, stateDir: string, lease: Lease, waitS = 0, readFile?: string): Promise<AcquireResult> {
  const deadline = Date.now() + waitS * 1000;
  for (;;) {
    const r = await t.exec({ argv: sh(ACQUIRE, stateDir, String(lease.ttl_s), ...(readFile ? [readFile] : [])), stdin: JSON.stringify(lease) + '\n', sudo: true, timeoutMs: 20_000 });
    const [own, file] = splitTrailer(r.stdout);
    const withFile = readFile ? { file } : {};
    if (r.code === 0) return withFile;
    if (r.code === 11) {
      const old = parseHeld(own);
      return { tookOver: { lease: old.lease, ageS: old.age }, ...withFile };
    }
    if (r.code !== 10) throw new LockError(`${t.host}: cannot take the deploy lock in ${stateDir}: ${r.stderr.trim() || `exit ${r.code}`}`);
    const held = parseHeld(r.stdout);
    if (held.lease && isDeadLocalHolder(held.lease, lease)) {
      // A run of ours on this same controller that was killed (SIGKILL, crash):
      // its pid is gone, so waiting for the TTL would only delay the re-run.
      const r2 = await t.exec({ argv: sh(TAKEOVER, stateDir, held.lease.token), stdin: JSON.stringify(lease) + '\n', sudo: true, timeoutMs: 20_000 });
      if (r2.code === 0) {
        const extra = readFile ? { file: await t.get(`${stateDir}/${readFile}`, { sudo: true }).then((b) => b?.toString('utf8') ?? null) } : {};
        return { tookOver: { lease: held.lease, ageS: held.age }, ...extra };
      }
      continue;
    }
    if (Date.now() >= deadline) throw new LockHeldError(t.host, held.lease, held.age);
    await new Promise((res) => setTimeout(res, Math.min(1000, Math.max(50, deadline - Date.now()))));
  }
}

/**
 * Read-only look, for check mode: the judgement acquireLease makes, without a
 * write. A lease silent for the TTL (ACQUIRE's test, with our lease's TTL) or
 * left by a killed run of this controller is one a run takes over: reported,
 * not refused. A fresh lease of a live run is waited for up to waitS seconds
 * (polling), then refused with LockHeldError, as acquireLease does.
 */
export async function peekLease(t: Transport, stateDir: string, lease: Lease, waitS = 0, readFile?: string): Promise<PeekResult> {
  const deadline = Date.now() + waitS * 1000;
  for (;;) {
    const r = await t.exec({ argv: sh(PEEK, stateDir, '', ...(readFile ? [readFile] : [])), sudo: true, timeoutMs: 20_000 });
    const [own, file] = splitTrailer(r.stdout);
    const withFile = readFile ? { file } : {};
    if (r.code === 0) return withFile;
    if (r.code !== 10) throw new LockError(`${t.host}: cannot read the deploy lock in ${stateDir}: ${r.stderr.trim() || `exit ${r.code}`}`);
    const held = parseHeld(own);
    if (held.age >= lease.ttl_s || (held.lease && isDeadLocalHolder(held.lease, lease))) return { wouldTakeOver: { lease: held.lease, ageS: held.age }, ...withFile };
    if (Date.now() >= deadline) throw new LockHeldError(t.host, held.lease, held.age);
    await new Promise((res) => setTimeout(res, Math.min(1000, Math.max(50, deadline - Date.now()))));
  }
}

/** Refreshes the lease's heartbeat; false when the lease is no longer ours. */
export async function heartbeatLease(t: Transport, stateDir: string, lease: Lease): Promise<boolean> {
  const r = await t.exec({ argv: sh(HEARTBEAT, stateDir, lease.token), sudo: true, timeoutMs: 20_000 });
  return r.code === 0;
}

/** Removes the lease if it is still ours (a takeover may have replaced it). */
export async function releaseLease(t: Transport, stateDir: string, lease: Lease, audit?: { dir: string; line: string }): Promise<void> {
  const r = await t.exec({ argv: sh(RELEASE, stateDir, lease.token, ...(audit ? [audit.dir] : [])), stdin: audit?.line, sudo: true, timeoutMs: 20_000 });
  if (r.code !== 0) throw new LockError(`${t.host}: release${audit ? ' and audit' : ''} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
}
