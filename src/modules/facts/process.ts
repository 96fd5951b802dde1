// The process fact for the `process` service manager: whether the pid in a
// pidfile is alive (not a zombie) and its exact command line.
import type { Fact } from './types.js';

/** Shell function: whether PID runs (a zombie has exited already). */
export const ALIVE_FN = `alive() { [ -r /proc/$1/status ] && ! grep -q '^State:[[:space:]]*Z' /proc/$1/status; }`;

/** Prints `none`, `dead PID`, or `alive PID HEX(cmdline)`. */
export const PROC_FACT_SCRIPT = [
  ALIVE_FN,
  'pf=$1',
  '[ -f "$pf" ] || { echo none; exit 0; }',
  'pid=$(head -n1 -- "$pf")',
  `case $pid in ''|*[!0-9]*) echo none; exit 0;; esac`,
  'if alive "$pid"; then',
  `  printf 'alive %s ' "$pid"; od -An -v -tx1 "/proc/$pid/cmdline" | tr -d ' \\n'; echo`,
  'else echo "dead $pid"; fi',
].join('\n');

export type ProcFact = { state: 'none' } | { state: 'dead'; pid: number } | { state: 'alive'; pid: number; cmdline: string[] };

export function parseProcFact(stdout: string): ProcFact | null {
  const [word, pid, hex] = stdout.trim().split(' ');
  if (word === 'none') return { state: 'none' };
  if (word === 'dead' && pid) return { state: 'dead', pid: Number(pid) };
  if (word === 'alive' && pid) {
    const raw = Buffer.from(hex ?? '', 'hex').toString('utf8');
    const cmdline = raw.endsWith('\0') ? raw.slice(0, -1).split('\0') : raw ? raw.split('\0') : [];
    return { state: 'alive', pid: Number(pid), cmdline };
  }
  return null;
}

export const PROCESS_STATE: Fact<string, ProcFact> = {
  name: 'process of pidfile',
  argv: (pidfile) => ['sh', '-c', PROC_FACT_SCRIPT, 'unibus-proc', pidfile],
  parse: (_pidfile, r) => (r.code === 0 ? parseProcFact(r.stdout) : null),
};
