// Small measuring helpers shared by the benches.
import { readFileSync } from 'node:fs';

/** CPU seconds (user+sys) a process has used so far, from /proc (10 ms ticks). */
export function cpuSecs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** The p-th percentile (nearest rank) of xs. */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
