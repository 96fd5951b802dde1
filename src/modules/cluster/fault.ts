// cluster_fault: a fault injected into one node, on its host (the chaos play).
//   kill    SIGKILL membershipd, then its nats-server (the process manager's
//           start task, or systemd's Restart=always, brings the node back)
//   freeze  SIGSTOP (nats-server by default), with a detached watchdog that
//           sends SIGCONT after `hold_max` seconds whatever becomes of the run
//   thaw    SIGCONT what is stopped, and the watchdog is cancelled
// Facts: each target's PID from the node's own records (membershipd.pid of
// the process manager or systemd's MainPID; nats-server.pid that nats-server
// writes in the state folder), its state and /proc/PID/cmdline. A PID whose
// command line is not this node's program (membershipd.mjs of this state
// folder; nats-server -c <state folder>/nats.conf) is refused, never
// signalled; the command checks it again right before it signals.
import { basename } from 'node:path';
import { hostPath, parseSeconds } from '../args.js';
import { defineModule } from '../define.js';
import { ModuleArgsError } from '../errors.js';
import type { Fact } from '../facts/types.js';
import { cancelWatchdogLines } from './watchdog.js';
import type { ArgsSchema, Command } from '../types.js';

const ACTIONS = ['kill', 'freeze', 'thaw'] as const;
const TARGETS = ['membershipd', 'nats'] as const;
export type Target = (typeof TARGETS)[number];

/** A target's freeze watchdog's record, in the state folder (one per target). */
export function thawPidFile(target: Target): string {
  return `chaos-thaw-${target}.pid`;
}

/** Prints per target: `T none`, `T dead PID`, or `T PID STATE HEX(cmdline)`. */
export const FAULT_FACT_SCRIPT = [
  'dir=$1; mgr=$2; unit=$3; shift 3',
  'for t in "$@"; do',
  '  pid=',
  '  case $t in',
  '    membershipd) if [ "$mgr" = systemd ]; then pid=$(systemctl show -p MainPID --value "$unit" 2>/dev/null); else pid=$(head -n1 -- "$dir/membershipd.pid" 2>/dev/null); fi ;;',
  '    nats) pid=$(head -n1 -- "$dir/nats-server.pid" 2>/dev/null) ;;',
  '  esac',
  `  case $pid in ''|0|*[!0-9]*) echo "$t none"; continue;; esac`,
  '  st=$(sed "s/.*) //" "/proc/$pid/stat" 2>/dev/null | cut -d" " -f1)',
  '  if [ -z "$st" ] || [ "$st" = Z ]; then echo "$t dead $pid"; continue; fi',
  `  printf '%s %s %s ' "$t" "$pid" "$st"; od -An -v -tx1 "/proc/$pid/cmdline" | tr -d ' \\n'; echo`,
  'done',
].join('\n');

/**
 * Signals each `PID WANT` pair with SIG, first checking that PID still runs
 * with WANT as one of its arguments (exit 3 otherwise). freeze then starts
 * the watchdog first and waits (bounded) until each is stopped; thaw cancels
 * the watchdog; kill waits (bounded) until each is gone.
 */
export const FAULT_SIGNAL_SCRIPT = [
  'action=$1; sig=$2; hold=$3; wdfile=$4; shift 4',
  `ours() { [ -r "/proc/$1/cmdline" ] && tr '\\0' '\\n' < "/proc/$1/cmdline" | grep -qxF -- "$2"; }`,
  `pstate() { sed "s/.*) //" "/proc/$1/stat" 2>/dev/null | cut -d" " -f1; }`,
  `gone() { st=$(pstate "$1"); [ -z "$st" ] || [ "$st" = Z ]; }`,
  `stopped() { [ "$(pstate "$1")" = T ]; }`,
  'if [ "$action" != kill ]; then',
  ...cancelWatchdogLines('unibus-thaw').map((l) => `  ${l}`),
  'fi',
  'if [ "$action" = freeze ]; then',
  // Started before anything is stopped: a run that dies between freeze and thaw leaves no node stopped for longer than hold.
  `  setsid sh -c 'sleep "$1"; shift; while [ $# -ge 2 ]; do if tr "\\\\0" "\\\\n" < "/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "$2"; then kill -CONT "$1"; fi; shift 2; done' unibus-thaw "$hold" "$@" </dev/null >/dev/null 2>&1 &`,
  '  echo $! > "$wdfile"',
  '  echo "watchdog pid $! sends SIGCONT in $hold s unless thawed first"',
  'fi',
  'while [ $# -ge 2 ]; do',
  '  pid=$1; want=$2; shift 2',
  '  if gone "$pid"; then echo "pid $pid already gone"; [ "$action" = freeze ] && exit 1; continue; fi',
  // A process may die between the two looks (nats-server once its membershipd is killed): gone is not foreign.
  // For a kill, a PID that runs something else now was reused: ours is gone (systemd ends the
  // whole unit and restarts it at once), and the new process is left alone. freeze and thaw refuse.
  '  if ! ours "$pid" "$want"; then',
  '    if gone "$pid"; then echo "pid $pid gone"; [ "$action" = freeze ] && exit 1; continue; fi',
  '    if [ "$action" = kill ]; then echo "pid $pid gone (now runs something else: not signalled)"; continue; fi',
  '    echo "refused: pid $pid no longer runs $want" >&2; exit 3',
  '  fi',
  '  kill -"$sig" "$pid" && echo "SIG$sig pid $pid ($want)"',
  '  if [ "$action" = kill ]; then n=0; while ! gone "$pid" && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done; fi',
  // SIGSTOP lands when the process is next scheduled: a freeze is done once the process shows stopped (bounded).
  '  if [ "$action" = freeze ]; then n=0; while ! stopped "$pid" && ! gone "$pid" && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done',
  // A freeze that did not take is a failed fault, never a window judged as if it had.
  `    if ! stopped "$pid"; then echo "pid $pid ($want) not stopped 5 s after SIGSTOP (state $(pstate "$pid"))" >&2; exit 4; fi`,
  '  fi',
  'done',
].join('\n');

export interface FaultFact { target: Target; pid: number | null; state: string | null; cmdline: string[] }

/** The node's processes that a fault would hit: pid, state (running, stopped, dead) and command line of each target. */
export const FAULT_STATE: Fact<{ stateDir: string; manager: string; unit: string; targets: readonly string[] }, FaultFact[]> = {
  name: 'processes of',
  describe: (q) => q.stateDir,
  argv: (q) => ['sh', '-c', FAULT_FACT_SCRIPT, 'unibus-fault-facts', q.stateDir, q.manager, q.unit, ...q.targets],
  parse(q, r) {
    const facts = r.code === 0 ? parseFaultFacts(r.stdout) : null;
    return facts && facts.length === q.targets.length ? facts : null;
  },
};

export function parseFaultFacts(stdout: string): FaultFact[] | null {
  const out: FaultFact[] = [];
  for (const line of stdout.split('\n').filter(Boolean)) {
    const [t, a, b, hex] = line.trim().split(' ');
    if (!(TARGETS as readonly string[]).includes(t!)) return null;
    const target = t as Target;
    if (a === 'none') out.push({ target, pid: null, state: null, cmdline: [] });
    else if (a === 'dead') out.push({ target, pid: Number(b), state: 'dead', cmdline: [] });
    else if (a && /^\d+$/.test(a) && b) {
      const raw = Buffer.from(hex ?? '', 'hex').toString('utf8');
      out.push({ target, pid: Number(a), state: b, cmdline: raw.split('\0').filter((x, i, all) => x !== '' || i < all.length - 1) });
    } else return null;
  }
  return out;
}

/** The argument that proves a process is this node's: its membershipd bundle, or its nats-server's config file. */
export function markerOf(target: Target, stateDir: string): string {
  return target === 'membershipd' ? `${stateDir}/app/membershipd.mjs` : `${stateDir}/nats.conf`;
}

export function isOurs(f: FaultFact, stateDir: string): boolean {
  if (!f.cmdline.includes(markerOf(f.target, stateDir))) return false;
  if (f.target === 'nats') return basename(f.cmdline[0] ?? '') === 'nats-server' && f.cmdline[f.cmdline.indexOf(markerOf('nats', stateDir)) - 1] === '-c';
  return true;
}

const SIGNAL = { kill: 'KILL', freeze: 'STOP', thaw: 'CONT' } as const;

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['action', 'state_dir'],
  properties: {
    action: { enum: ACTIONS },
    targets: { type: 'array', items: { enum: TARGETS } },
    state_dir: { type: 'string' },
    manager: { enum: ['process', 'systemd'] },
    unit: { type: 'string' },
    hold_max: { type: ['number', 'string'] },
  },
} as const satisfies ArgsSchema;

export const cluster_fault = defineModule({
  name: 'cluster_fault',
  argsSchema,
  async plan(args, ctx) {
    const { action } = args;
    const stateDir = hostPath('cluster_fault', 'state_dir', args.state_dir).replace(/\/+$/, '');
    const manager = args.manager ?? 'process';
    const unit = args.unit ?? 'membershipd';
    if (!/^[A-Za-z0-9@._:-]+$/.test(unit)) throw new ModuleArgsError('cluster_fault', 'unit', `${JSON.stringify(unit)} is not a unit name`);
    const holdMax = parseSeconds('cluster_fault', 'hold_max', args.hold_max, 60, 600);
    const given: readonly Target[] = args.targets ?? (action === 'kill' ? ['membershipd', 'nats'] : ['nats']);
    // membershipd first: killed after its nats-server, it would start a new one.
    const targets = TARGETS.filter((t) => given.includes(t));
    if (!targets.length) throw new ModuleArgsError('cluster_fault', 'targets', 'expected at least one of membershipd, nats');
    const sudo = ctx.become || undefined;
    const facts = await ctx.facts.read(FAULT_STATE, { stateDir, manager, unit, targets }, ctx.become);
    const result = { action, processes: facts.map((f) => ({ target: f.target, pid: f.pid, state: f.state })) };
    const foreign = facts.filter((f) => f.pid !== null && f.state !== 'dead' && !isOurs(f, stateDir));
    if (foreign.length) {
      return { changed: false, failed: true, reason: `refused: ${foreign.map((f) => `pid ${f.pid} (${f.target}) runs ${JSON.stringify(f.cmdline.join(' ').slice(0, 120))}, not this node's ${markerOf(f.target, stateDir)}`).join('; ')}`, commands: [], result };
    }
    const live = facts.filter((f) => f.pid !== null && f.state !== 'dead');
    const down = facts.filter((f) => !live.includes(f)).map((f) => f.target);
    if (action === 'freeze' && down.length) return { changed: false, failed: true, reason: `cannot freeze: ${down.join(', ')} not running`, commands: [], result };
    const todo = live.filter((f) => (action === 'kill' ? true : action === 'freeze' ? f.state !== 'T' : f.state === 'T'));
    const cancelWatchdog = action === 'thaw';
    if (!todo.length && !cancelWatchdog) {
      const why = action === 'kill' ? 'not running' : 'already stopped';
      return { changed: false, reason: `${targets.join(', ')} ${why}`, commands: [], result };
    }
    const pairsOf = (fs: FaultFact[]) => fs.flatMap((f) => [String(f.pid), markerOf(f.target, stateDir)]);
    const whatOf = (fs: FaultFact[]) => fs.map((f) => `${f.target === 'nats' ? 'nats-server' : 'membershipd'} pid ${f.pid}`).join(', ');
    const what = whatOf(todo);
    const cmdOf = (fs: FaultFact[], wd: Target): Command => ({
      kind: 'exec',
      argv: ['sh', '-c', FAULT_SIGNAL_SCRIPT, 'unibus-fault', action, SIGNAL[action], String(holdMax), `${stateDir}/${thawPidFile(wd)}`, ...pairsOf(fs)],
      sudo,
      timeoutMs: 30_000,
      label: fs.length ? `SIG${SIGNAL[action]} ${whatOf(fs)}${action === 'freeze' ? ` (SIGCONT by a watchdog after ${holdMax} s at the latest)` : ''}` : `cancel the ${wd} freeze watchdog, if any`,
    });
    // One watchdog per target: a freeze of nats-server while membershipd is
    // frozen by an earlier pause must not cancel the watchdog that thaws
    // membershipd (a combined run left n1's membershipd frozen for 2 min,
    // until a kill). A target already stopped keeps the watchdog it has.
    const commands =
      action === 'kill'
        ? [cmdOf(todo, targets[0]!)]
        : targets.filter((t) => action === 'thaw' || todo.some((f) => f.target === t)).map((t) => cmdOf(todo.filter((f) => f.target === t), t));
    // thaw with nothing stopped still clears a watchdog left by a run that ended early: housekeeping, not a change.
    if (!todo.length) return { changed: false, reason: `${targets.join(', ')} not stopped`, commands, result };
    return { changed: true, reason: `${action}: ${what}`, commands, result };
  },
});
