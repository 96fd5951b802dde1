// Small measuring helpers shared by the benches.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

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

/** What drive() adds up over one or more runs: the latencies of the operations that succeeded, seconds, and errors by message. */
export interface Timed {
  lat: number[];
  secs: number;
  errors: number;
  why: Map<string, number>;
}
export const timed = (): Timed => ({ lat: [], secs: 0, errors: 0, why: new Map() });

/** The errors by message, e.g. "3x timeout; 1x no responders". */
export const whyText = (t: Timed): string => [...t.why].map(([m, k]) => `${k}x ${m}`).join('; ');

/**
 * Runs op n times with at most c in flight, into t. With a rate (per second),
 * operation i starts no sooner than i / rate seconds after the first.
 */
export async function drive<T extends Timed>(n: number, c: number, op: (i: number) => Promise<unknown>, t: T, rate = 0): Promise<T> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) {
        const i = next++;
        if (rate) await sleep(Math.max(0, t0 + (i * 1000) / rate - performance.now()));
        const s = performance.now();
        try {
          await op(i);
          t.lat.push(performance.now() - s);
        } catch (err) {
          t.errors++;
          const m = (err as Error).message.slice(0, 120);
          t.why.set(m, (t.why.get(m) ?? 0) + 1);
        }
      }
    }),
  );
  t.secs += (performance.now() - t0) / 1000;
  return t;
}
