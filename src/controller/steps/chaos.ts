// The chaos play's controller steps (commands of the cluster_chaos_* modules),
// with their options as JSON on stdin:
//   start  spawn the workload detached, record its PID, wait (bounded) for
//          its first acknowledged write
//   stop   stop exactly the recorded workload (its command line checked), bounded
//   window a fault's window: opened when it is injected (and held, for a
//          kill), closed (and recorded in faults.ndjson) once it is healed,
//          or at the earliest time its host's watchdog can have healed it
//   schedule  store the seeded schedule (schedule.json) and its start time
//   victims   wait for a fault's time, probe the cluster, name who plays its
//          role (a verdict: the task's result)
//   lead   make a node a stream's leader (the corruption fault's last step),
//          or step it down from every stream it leads (before a follower's kill)
//   served wait (bounded) until every node has acknowledged a write sent
//          after a given time, reading the run's history
//   check  final reads of every set through every node (final.ndjson), then
//          the checker over the whole history: prints the verdict
//          (printVerdict), writes it to check.json and draws timeline.html
import { isAlive } from '../../util/process.js';
import { printVerdict, runControllerStep, stepArgv } from './step.js';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { checkHistory, formatCheck, violationsOf } from '../chaos/checker.js';
import { finalReads, readRunUsers } from '../chaos/final-reads.js';
import { FINAL_FILE, OPS_FILE, readClock, readHistory, readOpsFrom, recordFault, type FaultRecord } from '../chaos/history.js';
import { WORKLOAD_PROGRAM, workloadPidOf } from '../chaos/runs.js';
import { CONFIG_FILE, type WorkloadConfig, type WorkloadNode } from '../chaos/workload.js';
import { renderTimeline } from '../chaos/timeline.js';
import { FLOOR_STREAM } from '../chaos/floor.js';
import { moveLeader, moveLeaderAway, QUIET_MAX_MS, readAllReplicas, REPLICA_STREAMS, REPLICAS_FILE, type StreamCopies } from '../chaos/replicas.js';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { CLUSTER_STREAMS, connectCluster, probeCluster, type ProbeNode } from '../probe/probe.js';
import { SCHEDULE_FILE, type ScheduledFault, type StoredSchedule } from '../chaos/schedule.js';
import { findVictims, NoVictimError, skippedResult, victimsResult, type Victims } from '../chaos/victims.js';

/** No fault waits longer than this for its time (a schedule's longest run, with margin). */
const MAX_WAIT_MS = 3_600_000;
import { writeFileAtomic } from '../../util/fs.js';
import { sleep } from '../../util/time.js';


const readOrNull = (file: string) => readFile(file, 'utf8').catch(() => null);

async function start(o: { config: WorkloadConfig; pidFile: string; latestFile: string; ackWithinS: number }): Promise<number> {
  const { config } = o;
  mkdirSync(config.runDir, { recursive: true, mode: 0o700 });
  const cfgFile = join(config.runDir, CONFIG_FILE);
  writeFileSync(cfgFile, JSON.stringify(config, null, 1) + '\n', { mode: 0o600 });
  const log = openSync(join(config.runDir, 'workload.log'), 'a', 0o600);
  const argv = stepArgv(WORKLOAD_PROGRAM, [cfgFile]);
  // Its own session: the runner's timeout kills the process group of this command, not the workload.
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  const pid = child.pid!;
  writeFileSync(o.pidFile, `${pid}\n${cfgFile}\n`, { mode: 0o600 });
  writeFileSync(o.latestFile, `${config.run}\n`, { mode: 0o600 });
  const ops = join(config.runDir, OPS_FILE);
  const deadline = Date.now() + o.ackWithinS * 1000;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) break;
    // The run's users are added first: a room acknowledged means the clients run.
    if (existsSync(ops) && /"f":"add-room"[^\n]*"type":"ok"/.test(readFileSync(ops, 'utf8'))) {
      console.log(`workload ${config.run} running (pid ${pid}), seed ${config.seed}, history ${ops}`);
      return 0;
    }
    await sleep(200);
  }
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(o.pidFile, { force: true });
  const tail = readFileSync(join(config.runDir, 'workload.log'), 'utf8').trim().split('\n').slice(-5).join(' | ');
  process.stderr.write(`the workload had no room acknowledged within ${o.ackWithinS} s: ${tail || 'no output'}\n`);
  return 1;
}

async function stop(o: { pidFile: string; graceS: number }): Promise<number> {
  const pid = await workloadPidOf(await readOrNull(o.pidFile), (p) => readOrNull(`/proc/${p}/cmdline`));
  if (pid === null) {
    rmSync(o.pidFile, { force: true });
    console.log('no workload running');
    return 0;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + o.graceS * 1000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    console.log(`workload (pid ${pid}) did not stop in ${o.graceS} s: killed`);
  } else console.log(`workload (pid ${pid}) stopped`);
  rmSync(o.pidFile, { force: true });
  return 0;
}

/**
 * A fault's window: `open` notes its start (faults.open-<id>.json), then holds
 * `holdS` (a kill's downtime); `close` records it in faults.ndjson on the
 * workload's clock, ending now or at `endMs` (waited for when `wait`).
 */
async function window(o: { runDir: string; action: 'open' | 'close'; id: string; family: FaultRecord['family']; name: string; targets: string[]; noQuorum: string[]; holdS?: number; endMs?: number; wait?: boolean }): Promise<number> {
  if (!readClock(o.runDir)) throw new Error(`${o.runDir}: no workload clock (clock.json): the workload has not started`);
  const open = join(o.runDir, `faults.open-${o.id}.json`);
  if (o.action === 'open') {
    await writeFileAtomic(open, JSON.stringify({ start: Date.now() }) + '\n', 0o600);
    console.log(`fault ${o.id} (${o.name}) begins`);
    if (o.holdS) await sleep(o.holdS * 1000);
    return 0;
  }
  const start = (JSON.parse(readFileSync(open, 'utf8')) as { start: number }).start;
  // A self-healing fault is judged for its hold from when it was in place, and never past the
  // earliest time its watchdog (started before the injection, with slack) can have healed it.
  const endMs = o.endMs === undefined ? undefined : o.holdS ? Math.min(o.endMs, start + o.holdS * 1000) : o.endMs;
  if (endMs !== undefined && o.wait) await sleep(Math.max(0, endMs - Date.now()));
  const end = Math.max(start, endMs ?? Date.now());
  recordFault(o.runDir, { family: o.family, name: o.name, targets: o.targets, no_quorum: o.noQuorum }, start, end);
  rmSync(open, { force: true });
  console.log(`fault ${o.id} (${o.name}) lasted ${((end - start) / 1000).toFixed(1)} s`);
  return 0;
}

/**
 * Makes `node` the leader of `stream` (step-downs, bounded); with `away`,
 * steps `node` down from every control-plane stream (and the floor's) it
 * leads but those in `keep`, so that it follows all the others. The verdict
 * says whether it did, and why not.
 */
async function lead(o: { stream?: string; node: string; away?: boolean; keep?: string[]; probe: ProbeNode[]; outDir: string }): Promise<number> {
  const nc = await connectCluster(o.probe, o.outDir);
  try {
    // The JetStream API may not answer at once (a bench run's first fault, 30 s after bringup: "timeout"): asked 3 times, then the fault goes on named as not prepared.
    let jsm: JetStreamManager | undefined;
    let err = '';
    for (let i = 0; i < 3 && !jsm; i++) jsm = await jetstreamManager(nc, { timeout: 5000 }).catch((e: Error) => ((err = e.message), undefined));
    if (!jsm) {
      const why = `the JetStream API did not answer (${err})`;
      return printVerdict({ reason: `${o.node} not moved: ${why}`, failed: false, result: o.away ? { leads_none: false, why: [why] } : { leads: false, why } });
    }
    if (o.away) {
      const left: string[] = [];
      for (const stream of [...CLUSTER_STREAMS, FLOOR_STREAM].filter((x) => !o.keep?.includes(x))) {
        const why = await moveLeaderAway(nc, jsm, stream, o.node).catch((e: Error) => (/not found/i.test(e.message) ? null : e.message));
        if (why) left.push(why);
      }
      return printVerdict({ reason: left.length ? `${o.node} still leads: ${left.join('; ')}` : `${o.node} leads no stream`, failed: false, result: { leads_none: !left.length, why: left } });
    }
    const why = await moveLeader(nc, jsm, o.stream!, o.node, 40);
    return printVerdict({ reason: why ? `${o.node} does not lead ${o.stream}: ${why}` : `${o.node} leads ${o.stream}`, failed: false, result: { leads: !why, why } });
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** The schedule as the run keeps it: replayed by its seed, and its start for combined mode's absolute times. */
async function schedule(o: { runDir: string; schedule: StoredSchedule }): Promise<number> {
  const stored: StoredSchedule = { ...o.schedule, t0: Date.now() };
  await writeFileAtomic(join(o.runDir, SCHEDULE_FILE), JSON.stringify(stored, null, 1) + '\n', 0o600);
  console.log(`schedule of ${stored.faults.length} faults (seed ${stored.seed}, ${stored.mode}) in ${join(o.runDir, SCHEDULE_FILE)}`);
  return 0;
}

/** Waits for the fault's time (bounded by the schedule), probes the cluster once, and names its victims. */
/** How long a sequential fault looks again for a node to play its role. */
const VICTIM_RETRY_MS = 15_000;

/** The nodes a run has damaged copies on, in its folder. */
const CORRUPTIBLE_FILE = 'corruptible.json';

async function victims(o: { runDir: string; fault: ScheduledFault; nodes: { name: string; ip: string }[]; probe: ProbeNode[]; outDir: string }): Promise<number> {
  const sched = JSON.parse(readFileSync(join(o.runDir, SCHEDULE_FILE), 'utf8')) as StoredSchedule;
  const until = sched.mode === 'combined' ? sched.t0 + o.fault.at * 1000 : Date.now() + o.fault.gap * 1000;
  await sleep(Math.max(0, Math.min(until - Date.now(), MAX_WAIT_MS)));
  const ip = new Map(o.nodes.map((n) => [n.name, n.ip]));
  // The nodes this run has damaged copies on: its corruption stays on a minority of them (victims.ts).
  const damagedFile = join(o.runDir, CORRUPTIBLE_FILE);
  const corruptible = existsSync(damagedFile) ? (JSON.parse(readFileSync(damagedFile, 'utf8')) as string[]) : [];
  let v: Victims;
  // Sequential: the cluster served every node before this fault, so a probe that finds no one for the role is a read
  // that failed, and is made again (bounded). A CI lab run skipped its only kill so: "no stream has a leader".
  for (const retryUntil = sched.mode === 'sequential' ? Date.now() + VICTIM_RETRY_MS : 0; ; await sleep(500)) {
    const report = await probeCluster(o.probe, o.outDir, 3000);
    try {
      v = findVictims(o.fault, o.nodes.map((n) => n.name), report, { corruptible });
      break;
    } catch (e) {
      if (!(e instanceof NoVictimError)) throw e;
      if (Date.now() < retryUntil) continue;
      // A combined schedule may find the cluster too broken for a role: that fault is skipped, named.
      return printVerdict({ reason: `${o.fault.id} skipped: ${e.message}`, failed: false, result: skippedResult(o.fault.id, Date.now()) });
    }
  }
  if (v.how && !corruptible.includes(v.targets[0]!)) await writeFileAtomic(damagedFile, JSON.stringify([...corruptible, v.targets[0]!]) + '\n', 0o600);
  return printVerdict({ reason: `${o.fault.id}: ${v.name}, held ${o.fault.hold} s`, failed: false, result: victimsResult(o.fault, v, (n) => ip.get(n)!, Date.now()) });
}

async function served(o: { runDir: string; nodes: string[]; since: number; timeoutMs: number }): Promise<number> {
  const deadline = o.since + o.timeoutMs;
  const clock = readClock(o.runDir);
  if (!clock) throw new Error(`${o.runDir}: no workload clock (clock.json): the workload has not started`);
  const since = clock(o.since);
  // Only what the journal gained since the last look is read (a long run's journal is hundreds of MB).
  const ok = new Set<string>();
  for (let offset = 0; ; ) {
    const next = readOpsFrom(o.runDir, offset);
    offset = next.offset;
    for (const a of next.ops) if (a.invoke >= since && a.type === 'ok' && (a.f === 'add-room' || a.f === 'add-member')) ok.add(a.node);
    const waiting = o.nodes.filter((n) => !ok.has(n));
    if (!waiting.length) {
      console.log(`every node acknowledges writes again (${((Date.now() - o.since) / 1000).toFixed(1)} s)`);
      return 0;
    }
    if (Date.now() >= deadline) {
      process.stderr.write(`no write acknowledged by ${waiting.join(', ')} within ${(o.timeoutMs / 1000).toFixed(0)} s\n`);
      return 1;
    }
    await sleep(250);
  }
}

/** Every replica's copy of the control-plane streams, each read while it leads (replicas.ts), then the run's floor stream deleted; null when the cluster cannot be reached. */
async function readCopies(probe: ProbeNode[], outDir: string): Promise<{ copies: StreamCopies[] | null; why?: string }> {
  let nc;
  try {
    nc = await connectCluster(probe, outDir);
  } catch (e) {
    return { copies: null, why: (e as Error).message };
  }
  try {
    const copies = await readAllReplicas(nc, REPLICA_STREAMS, { quietMs: QUIET_MAX_MS });
    // The run's floor stream (floor.ts) is the workload's own: it goes with the run.
    await jetstreamManager(nc, { timeout: 5000 }).then((jsm) => jsm.streams.delete(FLOOR_STREAM)).catch(() => undefined);
    return { copies };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

async function check(o: { run: string; runDir: string; nodes: WorkloadNode[]; probe: ProbeNode[]; outDir: string; requireWindow: boolean }): Promise<number> {
  const before = readHistory(o.runDir);
  const runOps = before.ops.filter((x) => x.f !== 'final-read');
  const { writers, pool } = await readRunUsers(o.runDir);
  let t0 = Date.now();
  const finals = await finalReads(runOps, writers, pool ?? [], o.nodes);
  await writeFileAtomic(join(o.runDir, FINAL_FILE), finals.map((x) => JSON.stringify(x) + '\n').join(''), 0o600);
  console.log(`final reads: ${finals.length} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  t0 = Date.now();
  const { copies, why } = await readCopies(o.probe, o.outDir);
  console.log(`replica read-back: ${copies ? `${copies.reduce((n, s) => n + s.copies.length, 0)} copies` : 'none'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const r = checkHistory([...runOps, ...finals], before.faults, copies ?? []);
  await writeFileAtomic(join(o.runDir, 'check.json'), JSON.stringify(r, null, 1) + '\n', 0o600);
  // Each copy as read (a KV copy's latest value per key too): what a diverged copy or a broken invariant is looked into with.
  if (copies) await writeFileAtomic(join(o.runDir, REPLICAS_FILE), JSON.stringify(copies.map((s) => ({ ...s, copies: s.copies.map((c) => ({ ...c, kv: c.kv ? Object.fromEntries(c.kv) : undefined })) }))) + '\n', 0o600);
  // Exercised: a run that wrote nothing, or (when asked) made no quorum refusal, proves nothing.
  const unproven = [
    ...(r.ops.ok === 0 || !runOps.some((x) => x.type === 'ok' && x.f === 'add-room') ? ['no room was acknowledged: the workload proved nothing'] : []),
    ...(o.requireWindow && r.properties.no_quorum.unexercised ? [`quorum loss was not exercised: ${r.properties.no_quorum.unexercised}`] : []),
    ...(copies ? [] : [`no replica's copy could be read: ${why}`]),
  ];
  const seed = (JSON.parse(readFileSync(join(o.runDir, CONFIG_FILE), 'utf8')) as Partial<WorkloadConfig>).seed;
  const timeline = join(o.runDir, 'timeline.html');
  await writeFileAtomic(timeline, renderTimeline([...runOps, ...finals], before.faults, r, { run: o.run, seed }), 0o600);
  const reason = `run ${o.run}: ${formatCheck(r)}${unproven.length ? `. NOT PROVEN: ${unproven.join('; ')}` : ''}; timeline ${timeline}`;
  return printVerdict({ reason, failed: violationsOf(r) > 0 || unproven.length > 0, result: { run: o.run, run_dir: o.runDir, ops: r.ops, properties: r.properties, visibility: r.visibility, latency: r.latency, faults: r.faults } });
}

if (process.argv[1] && /steps[\\/]chaos\.[jt]s$/.test(process.argv[1])) {
  runControllerStep<never>('chaos', async (o) => {
    switch (process.argv[2]) {
      case 'start': return start(o);
      case 'stop': return stop(o);
      case 'served': return served(o);
      case 'check': return check(o);
      case 'window': return window(o);
      case 'schedule': return schedule(o);
      case 'victims': return victims(o);
      case 'lead': return lead(o);
      default: throw new Error(`unknown step ${JSON.stringify(process.argv[2])} (expected start, stop, served, check, window, schedule, victims or lead)`);
    }
  });
}
