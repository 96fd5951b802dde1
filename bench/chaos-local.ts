// `play chaos` on a local three-node cluster (127.0.0.31-33, free ports), run
// RUNS times, each run's checker report summed up in one table: ops, ok,
// fail, info, the violations of each property, latency and visibility, and
// each fault's unavailability. Extra `-e` settings go through CHAOS_VARS
// ("chaos_mode=combined chaos_duration=300"); SEEDS="1 2 3" gives each run
// its seed; FAULT_SETS="kill pause" gives run i the faults of entry i (mod
// their count), so one bringup serves a run per family. A run that fails
// keeps its histories and the nodes' logs, and the cluster is brought up
// again before the next run.
//   node --import tsx bench/chaos-local.ts
//   RUNS=3 CHAOS_VARS="chaos_clients=6" node --import tsx bench/chaos-local.ts
//   RUNS=6 FAULT_SETS="kill pause partition restart skew corrupt" CHAOS_VARS="chaos_duration=90" node --import tsx bench/chaos-local.ts
// NATS_VERSION=2.10.27 pins another nats-server release than the inventory's.
// PLAY_TIMEOUT_MIN bounds each `play chaos` (default 60: a 300 s combined run
// takes 20-25 min of faults, and its check several more minutes).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckResult } from '../src/controller/chaos/checker.js';
import { readHistory } from '../src/controller/chaos/history.js';
import { makeProject } from '../test/harness/project.js';
import { play } from '../test/harness/play.js';
import { ROOT } from '../test/harness/root.js';
import { keepChaosRuns } from '../test/harness/keep-chaos.js';

const IPS = ['127.0.0.31', '127.0.0.32', '127.0.0.33'];
/** The stall watch's restarts, as bench/stall-count.ts counts them. */
const STALL = /restarting nats-server \(pid \d+\): (no meta leader known|not counted current by its leaders)/;
/** Each node's log lines already counted by an earlier run. */
const logSeen = new Map<string, number>();
const CLIENT_OPS = new Set(['add-room', 'read-rooms', 'add-member', 'read-members']);
const runs = Number(process.env.RUNS ?? 1);
const seeds = (process.env.SEEDS ?? '').split(/\s+/).filter(Boolean);
const faultSets = (process.env.FAULT_SETS ?? '').split(/\s+/).filter(Boolean);
const extra = (process.env.CHAOS_VARS ?? '').split(/\s+/).filter(Boolean).flatMap((v) => ['-e', v]);

const playMs = Number(process.env.PLAY_TIMEOUT_MIN ?? 60) * 60_000;
let inv = readFileSync(join(ROOT, 'inventory.yaml'), 'utf8').replace(/127\.0\.0\.1([123])\b/g, '127.0.0.3$1');
if (process.env.NATS_VERSION) {
  inv = inv.replace(/^ {4}version: "[0-9.]+"$/m, `    version: "${process.env.NATS_VERSION}"`);
  if (!inv.includes(`version: "${process.env.NATS_VERSION}"`)) throw new Error('inventory.yaml has no cluster.nats_server.version line to set');
}
const p = await makeProject(inv, IPS);
const base = ['-i', p.inventory, '--json'];
try {
  const up = await play(['bringup', ...base], 600_000);
  if (up.code !== 0) throw new Error(`bringup failed:\n${up.stderr}`);
  const rows: string[] = [];
  for (let i = 0; i < runs; i++) {
    const seed = [...(seeds[i] ? ['-e', `chaos_seed=${seeds[i]}`] : []), ...(faultSets.length ? ['-e', `chaos_faults=${faultSets[i % faultSets.length]}`] : [])];
    const t0 = Date.now();
    const r = await play(['chaos', ...base, ...seed, ...extra], playMs);
    const secs = ((Date.now() - t0) / 1000).toFixed(0);
    const run = readFileSync(join(p.dir, 'out', 'chaos', 'latest'), 'utf8').trim();
    // The play's own account of each task (victims, signals, step verdicts), beside the run's journal.
    writeFileSync(join(p.dir, 'out', 'chaos', run, 'play.ndjson'), r.stdout, { mode: 0o600 });
    if (r.code !== 0) {
      const failed = r.results.filter((x) => x.status === 'failed').map((x) => `${x.task} @ ${x.host}: ${x.reason.slice(0, 300)}`);
      console.log(`run ${i + 1} exited ${r.code}: ${keepChaosRuns(p.dir)}\n  ${failed.join('\n  ') || r.stderr.slice(-600)}`);
      // A run that failed may leave a node stopped: the next run starts from a converged cluster.
      const again = await play(['bringup', ...base], 600_000);
      if (again.code !== 0) console.log(`bringup after run ${i + 1} exited ${again.code}: ${again.stderr.slice(-300)}`);
      // A run cut short (a node that did not come back within its bound) is still checked: its history, the final reads and every replica.
      else if (!existsSync(join(p.dir, 'out', 'chaos', run, 'check.json'))) {
        const chk = await play(['chaos', ...base, '--tags', 'check'], playMs);
        console.log(`run ${i + 1} checked after the bringup: exit ${chk.code}${chk.code ? `: ${chk.results.filter((x) => x.status === 'failed').map((x) => x.reason.slice(0, 600)).join(' | ')}` : ''}`);
        writeFileSync(join(p.dir, 'out', 'chaos', run, 'play-check.ndjson'), chk.stdout, { mode: 0o600 });
        console.log(`  ${keepChaosRuns(p.dir)}`);
      }
    }
    const wl = JSON.parse(readFileSync(join(p.dir, 'out', 'chaos', run, 'workload.json'), 'utf8')) as { seed: number };
    let c: CheckResult;
    try {
      c = JSON.parse(readFileSync(join(p.dir, 'out', 'chaos', run, 'check.json'), 'utf8')) as CheckResult;
    } catch {
      rows.push(`| ${run} | ${wl.seed} | exit ${r.code} (no check) | ${secs} s |`);
      continue;
    }
    const v = Object.entries(c.properties).map(([k, x]) => `${k} ${x.violations}${x.unexercised ? '?' : ''}`).join(', ');
    const unavail = c.faults.map((f) => `${f.name.split(':')[0]}: ${f.unavailable_ms ?? '-'} ms`).join('; ');
    const dur = Math.max(...c.faults.map((f) => f.end), 0);
    const floor = c.faults.map((f) => (typeof f.floor_ms === 'number' ? `${f.name.split(' ')[0]}: ${f.unavailable_ms ?? '-'} / ${f.floor_ms} ms` : null)).filter(Boolean).join('; ');
    rows.push(`| ${run}${faultSets.length ? ` ${faultSets[i % faultSets.length]}` : ''} | ${wl.seed} | exit ${r.code} | ${c.ops.total} ops (ok ${c.ops.ok}, fail ${c.ops.fail}, info ${c.ops.info}) | ${v} | latency p50 ${c.latency.p50?.toFixed(1)} p99 ${c.latency.p99?.toFixed(1)} ms | visibility p50 ${c.visibility.p50?.toFixed(1)} max ${c.visibility.max?.toFixed(1)} ms | ${unavail} | ${floor || '-'} | ${secs} s (last fault ends at ${(dur / 1000).toFixed(0)} s) |`);
    console.log(rows.at(-1));
    // Per fault: the requests to the nodes it left serving that were not answered ok, by what they got.
    const { ops } = readHistory(join(p.dir, 'out', 'chaos', run));
    for (const f of c.faults) {
      if (!f.elsewhere?.not_ok) continue;
      const errs = new Map<string, number>();
      for (const o of ops) {
        if (!CLIENT_OPS.has(o.f) || o.type === 'ok' || o.invoke > f.end || o.complete < f.start) continue;
        const k = `${o.node} ${o.error ?? o.status}`;
        errs.set(k, (errs.get(k) ?? 0) + 1);
      }
      console.log(`  ${f.name}: not ok elsewhere ${f.elsewhere.not_ok} of ${f.elsewhere.ops}; not ok on any node: ${[...errs].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([e, n]) => `${e} x${n}`).join(', ')}`);
    }
    // The nodes' own repairs in this run's part of their logs: followed copies' watches made again (kicks) and jumps
    // past a held value; the stall watch's restarts (a node come back unheard); runaway kills; copies the scrub found damaged; copies moved aside.
    for (const n of ['n1', 'n2', 'n3']) {
      const log = join(p.dir, '.unibus', 'local', n, 'membershipd.log');
      const all = existsSync(log) ? readFileSync(log, 'utf8').split('\n') : [];
      const lines = all.slice(logSeen.get(n) ?? 0);
      logSeen.set(n, all.length);
      const jumps = lines.filter((l) => l.includes('which the leader holds'));
      const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
      console.log(`  ${n} log: ${count(/following KV_\S+: the copy /)} watches made again, ${jumps.length} jumps past a held value${jumps.length ? ` (${jumps.slice(-3).join(' | ')})` : ''}, ${count(STALL)} stall restarts, ${count(/ran away:/)} runaway kills, ${count(/scrub: \S+: its copy did not read whole/)} found by the scrub, ${count(/copy moved aside to/)} copies moved aside`);
    }
    for (const [f, k] of Object.entries(c.ops.by_kind)) console.log(`  ${f}: ok ${k.ok}, fail ${k.fail}, info ${k.info}; ${Object.entries(k.errors).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([e, n]) => `${e} x${n}`).join(', ')}`);
  }
  console.log(['| run | seed | exit | ops | violations (? = not exercised) | latency | visibility | unavailability | unavailable / bare nats-server | wall |', '|---|---|---|---|---|---|---|---|---|---|', ...rows].join('\n'));
} finally {
  await p.cleanup();
}
