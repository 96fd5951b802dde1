import { ALIVE_FN, PROCESS_STATE } from './facts/process.js';
import type { Command, ModuleContext, ModulePlan } from './types.js';

// The `process` service manager, for hosts without systemd: a detached
// process (setsid + nohup, stdin from /dev/null, output appended to a log
// file), tracked by a pidfile. "Running" means the pid is alive and its
// /proc/PID/cmdline is exactly the wanted argv.

export interface ProcessArgs {
  name: string;
  state?: 'started' | 'stopped' | 'restarted' | 'reloaded';
  cmd: string[];
  pidfile: string;
  log: string;
  envFile?: string;
  stopTimeoutS: number;
}



/** Starts "$@" detached; fails when it exits within the first 0.3 s (the log's tail on stderr). */
export const PROC_START_SCRIPT = [
  ALIVE_FN,
  'pf=$1; log=$2; envf=$3; shift 3',
  'mkdir -p -- "$(dirname -- "$pf")" "$(dirname -- "$log")"',
  // KEY=VALUE lines read literally, as systemd's EnvironmentFile does: no
  // expansion, one pair of surrounding quotes removed, comments skipped.
  'if [ -n "$envf" ]; then',
  '  while IFS= read -r l || [ -n "$l" ]; do',
  `    case $l in ''|'#'*|';'*) continue;; esac`,
  '    k=${l%%=*}; v=${l#*=}',
  `    case $k in ''|[0-9]*|*[!A-Za-z0-9_]*) echo "bad line in $envf: $k" >&2; exit 1;; esac`,
  '    case $v in \\"*\\") v=${v#\\"}; v=${v%\\"};; \\\'*\\\') v=${v#\\\'}; v=${v%\\\'};; esac',
  '    export "$k=$v"',
  '  done < "$envf"',
  'fi',
  'setsid nohup "$@" >>"$log" 2>&1 </dev/null &',
  'pid=$!',
  'echo "$pid" > "$pf.tmp" && mv -f -- "$pf.tmp" "$pf"',
  'sleep 0.3',
  'if ! alive "$pid"; then echo "$1 exited at once; last lines of $log:" >&2; tail -n 20 -- "$log" >&2; rm -f -- "$pf"; exit 1; fi',
].join('\n');

/** SIGTERM, then SIGKILL once the timeout (seconds) has passed; removes the pidfile. */
export const PROC_STOP_SCRIPT = [
  ALIVE_FN,
  'pf=$1; pid=$2; t=$3',
  'kill -TERM "$pid" 2>/dev/null || true',
  'n=0',
  'while alive "$pid"; do',
  '  if [ "$n" -ge $((t * 10)) ]; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.1; break; fi',
  '  sleep 0.1; n=$((n + 1))',
  'done',
  'rm -f -- "$pf"',
].join('\n');


/**
 * The kernel shows a script started through its `#!` line as
 * `interpreter [arg] script args...`: accept up to two leading words before
 * the wanted argv.
 */
export function cmdlineMatches(cmdline: readonly string[], want: readonly string[]): boolean {
  const extra = cmdline.length - want.length;
  if (extra < 0 || extra > 2) return false;
  return want.every((w, i) => cmdline[extra + i] === w);
}

export async function planProcess(a: ProcessArgs, ctx: ModuleContext): Promise<ModulePlan> {
  const sudo = ctx.become || undefined;
  const f = await ctx.facts.read(PROCESS_STATE, a.pidfile, ctx.become);
  const ours = f.state === 'alive' && cmdlineMatches(f.cmdline, a.cmd);
  // A live pid whose program is ours but whose arguments differ is an old version to replace;
  // anything else in the pidfile is a reused pid that must not be signalled.
  const oldOurs = f.state === 'alive' && !ours && f.cmdline.slice(0, 3).includes(a.cmd[0]!);
  const result = { name: a.name, pid: f.state === 'none' ? null : f.pid, running: ours };
  const start: Command = {
    kind: 'exec',
    argv: ['sh', '-c', PROC_START_SCRIPT, 'unibus-start', a.pidfile, a.log, a.envFile ?? '', ...a.cmd],
    sudo,
    timeoutMs: 30_000,
    label: `start ${a.name}: ${a.cmd.join(' ')} (pidfile ${a.pidfile}, log ${a.log})`,
  };
  const stop = (pid: number): Command => ({
    kind: 'exec',
    argv: ['sh', '-c', PROC_STOP_SCRIPT, 'unibus-stop', a.pidfile, String(pid), String(a.stopTimeoutS)],
    sudo,
    timeoutMs: (a.stopTimeoutS + 10) * 1000,
    label: `stop ${a.name}: SIGTERM pid ${pid}, SIGKILL after ${a.stopTimeoutS} s`,
  });
  const pid = f.state === 'alive' ? f.pid : 0;
  const state = a.state ?? 'started';
  if (state === 'stopped') {
    if (ours || oldOurs) return { changed: true, reason: `stop (pid ${pid})`, commands: [stop(pid)], result };
    return { changed: false, reason: 'not running', commands: [], result };
  }
  if (state === 'restarted' || state === 'reloaded') {
    const cmds = ours || oldOurs ? [stop(pid), start] : [start];
    return { changed: true, reason: ours || oldOurs ? `restart (pid ${pid})` : 'start (not running)', commands: cmds, result };
  }
  if (ours) return { changed: false, reason: `running (pid ${pid})`, commands: [], result };
  if (oldOurs) return { changed: true, reason: `running command differs (pid ${pid}): restart`, commands: [stop(pid), start], result };
  return { changed: true, reason: f.state === 'none' ? 'not running' : `not running (stale pid ${f.pid})`, commands: [start], result };
}
