// `unibus chaos report [RUN] [--out DIR] [--json]`: a chaos run's report from
// what its check wrote (out/chaos/<run>/check.json, schedule.json,
// workload.json): per property its count and first examples, per fault its
// window, ops and unavailability, per family the unavailability's p50 and
// max, latency, time to visibility, the data plane's reconnects, the seed.
// RUN defaults to the latest run. Exit 0 when the run passed, 2 when a
// property was violated, 4 on bad input (no such run, no check yet).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { distribution, type CheckResult, type Distribution } from '../controller/chaos/checker.js';
import { LATEST_FILE } from '../controller/chaos/runs.js';
import { SCHEDULE_FILE, type StoredSchedule } from '../controller/chaos/schedule.js';
import { CONFIG_FILE } from '../controller/chaos/workload.js';

const USAGE = 'usage: unibus chaos report [RUN] [--out DIR] [--json]';

export interface ChaosReport {
  run: string;
  seed: number | null;
  passed: boolean;
  violations: number;
  schedule: { mode: string; faults: number } | null;
  ops: CheckResult['ops'];
  properties: Record<string, { checked: number; violations: number; examples: string[]; unexercised?: string }>;
  latency_ms: Distribution;
  visibility_ms: Distribution;
  /** Per fault family: injection to the first acknowledged write after it. */
  unavailable_ms: Record<string, Distribution>;
  /** The same for the bare nats-server floor stream, per family (absent: no floor written). */
  floor_ms?: Record<string, Distribution>;
  faults: CheckResult['faults'];
}

/** The report of one checked run (pure over its files' contents). */
export function reportOf(run: string, check: CheckResult, seed: number | null, schedule: StoredSchedule | null): ChaosReport {
  const properties = Object.fromEntries(Object.entries(check.properties).filter(([, v]) => v).map(([k, v]) => [k, { checked: v!.checked, violations: v!.violations, examples: v!.examples, ...(v!.unexercised ? { unexercised: v!.unexercised } : {}) }]));
  const violations = Object.values(properties).reduce((n, p) => n + p.violations, 0);
  const families = [...new Set(check.faults.map((f) => f.family))];
  const unavailable = Object.fromEntries(families.map((fam) => [fam, distribution(check.faults.filter((f) => f.family === fam && f.unavailable_ms !== null).map((f) => f.unavailable_ms!))]));
  const floored = check.faults.some((f) => f.floor_ms !== undefined);
  const floor = Object.fromEntries(families.map((fam) => [fam, distribution(check.faults.filter((f) => f.family === fam && typeof f.floor_ms === 'number').map((f) => f.floor_ms!))]));
  return {
    run,
    seed,
    passed: violations === 0,
    violations,
    schedule: schedule ? { mode: schedule.mode, faults: schedule.faults.length } : null,
    ops: check.ops,
    properties,
    latency_ms: check.latency,
    visibility_ms: check.visibility,
    unavailable_ms: unavailable,
    ...(floored ? { floor_ms: floor } : {}),
    faults: check.faults,
  };
}

const num = (x: number | null) => (x === null ? '-' : x.toFixed(0));
const dist = (d: Distribution) => `n ${d.n}, p50 ${num(d.p50)}, p99 ${num(d.p99)}, max ${num(d.max)}`;

export function formatReport(r: ChaosReport): string {
  const lines = [
    `run ${r.run} (seed ${r.seed ?? '?'}${r.schedule ? `, ${r.schedule.mode}, ${r.schedule.faults} faults` : ''}): ${r.passed ? 'PASSED' : `VIOLATED (${r.violations})`}`,
    `ops ${r.ops.total}: ok ${r.ops.ok}, fail ${r.ops.fail}, info ${r.ops.info}`,
    'property        checked  violations  first example',
    ...Object.entries(r.properties).map(([k, p]) => `${k.padEnd(15)} ${String(p.checked).padStart(7)}  ${String(p.violations).padStart(10)}  ${p.examples[0] ?? p.unexercised ?? ''}`),
    `latency ms: ${dist(r.latency_ms)}`,
    `visibility ms: ${dist(r.visibility_ms)}`,
    ...Object.entries(r.unavailable_ms).map(([fam, d]) => `unavailable ms after ${fam}: ${dist(d)}${r.floor_ms?.[fam] ? `; bare nats-server: ${dist(r.floor_ms[fam])}` : ''}`),
    'fault                                                     s    ops   ok  fail  info  unavailable ms  bare nats ms  reconnect ms  not ok elsewhere',
    ...r.faults.map((f) => `${f.name.slice(0, 52).padEnd(52)} ${((f.end - f.start) / 1000).toFixed(1).padStart(6)} ${String(f.ops).padStart(6)} ${String(f.ok).padStart(4)} ${String(f.fail).padStart(5)} ${String(f.info).padStart(5)}  ${num(f.unavailable_ms).padStart(14)}  ${(f.floor_ms === undefined ? '-' : num(f.floor_ms)).padStart(12)}  ${num(f.reconnect_ms ?? null).padStart(12)}  ${f.elsewhere ? `${f.elsewhere.not_ok} of ${f.elsewhere.ops}` : '-'}`),
  ];
  return lines.join('\n');
}

export async function run(args: string[]): Promise<number> {
  let v;
  let rest: string[];
  try {
    const p = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string', default: 'out' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
    v = p.values;
    rest = p.positionals;
  } catch (e) {
    console.error(`unibus chaos: ${(e as Error).message}\n${USAGE}`);
    return 4;
  }
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (rest[0] !== 'report' || rest.length > 2) {
    console.error(`unibus chaos: expected report [RUN]\n${USAGE}`);
    return 4;
  }
  const dir = join(v.out!, 'chaos');
  const latest = join(dir, LATEST_FILE);
  const run = rest[1] ?? (existsSync(latest) ? readFileSync(latest, 'utf8').trim() : '');
  if (!/^[0-9]{8}-[0-9]{6}$/.test(run)) {
    console.error(`unibus chaos report: ${rest[1] ? `${JSON.stringify(rest[1])} is not a run id (expected YYYYMMDD-HHMMSS)` : `no run in ${dir} (${LATEST_FILE} missing)`}`);
    return 4;
  }
  const runDir = join(dir, run);
  const checkFile = join(runDir, 'check.json');
  if (!existsSync(checkFile)) {
    console.error(`unibus chaos report: ${checkFile} not found: run ${run} was not checked yet (unibus play chaos --tags check)`);
    return 4;
  }
  const read = <T>(f: string): T | null => (existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as T) : null);
  const check = read<CheckResult>(checkFile)!;
  const seed = read<{ seed?: number }>(join(runDir, CONFIG_FILE))?.seed ?? null;
  const r = reportOf(run, check, seed, read<StoredSchedule>(join(runDir, SCHEDULE_FILE)));
  console.log(v.json ? JSON.stringify(r, null, 1) : formatReport(r));
  return r.passed ? 0 : 2;
}
