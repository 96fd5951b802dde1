// The chaos play's controller steps (delegate_to: controller, run_once):
//   cluster_chaos_key       the workload user's Ed25519 seed in secrets/ (0600), made once, reused
//   cluster_chaos_workload  the signed workload started detached (PID recorded) or stopped by that PID
//   cluster_chaos_served    a bounded wait until every node acknowledges the workload's writes again
//   cluster_chaos_window    a fault's window in the journal (opened, held, closed)
//   cluster_chaos_schedule  the seeded schedule of faults (shown by --check, stored in the run)
//   cluster_chaos_victims   who plays a fault's role, found when its time comes
//   cluster_chaos_check     the journal and a read-back through every node (a step, whose
//                           verdict is the task's): no acknowledged write lost, nothing
//                           served without quorum
// Facts are read through the controller's transport; what changes anything is
// a command (src/controller/steps/chaos.ts), so check mode only plans it.
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { LATEST_FILE, WORKLOAD_PID_FILE, workloadPidOf } from '../../controller/chaos/runs.js';
import type { WorkloadConfig, WorkloadNode } from '../../controller/chaos/workload.js';
import { newSeed, MAX_SEED } from '../../controller/chaos/random.js';
import { FAULT_FAMILIES } from '../../controller/chaos/history.js';
import { nodeFiles } from '../../pki/layout.js';
import { projectDirOf } from '../../controller/paths.js';
import { stepArgv } from '../../controller/steps/step.js';
import { probeNodes } from '../../controller/probe/nodes.js';
import { rawPublicKey } from '../../protocol/ed25519.js';
import { Secret } from '../../secret.js';
import type { FactReader } from '../facts/types.js';
import { parseSeconds } from '../args.js';
import { defineModule } from '../define.js';
import { ModuleArgsError } from '../errors.js';
import { PATH_STAT, pathCommands } from '../facts/paths.js';
import { formatMode } from '../../util/format.js';
import type { ArgsSchema, Command, ModuleContext } from '../types.js';
import { nodesOf } from './node-view.js';
import { CHAOS_TABLE, isLoopback, PARTITION_STATE } from './partition.js';
import { makeSchedule, NEMESIS_FAULTS, readFaultList, type NemesisFault, type ScheduledFault, type StoredSchedule } from '../../controller/chaos/schedule.js';
import { findVictims, NoVictimError, skippedResult, victimsResult } from '../../controller/chaos/victims.js';
import { probeCluster } from '../../controller/probe/probe.js';

const outDir = (ctx: ModuleContext, out: string | undefined) => out ?? join(projectDirOf(ctx.baseDirs), 'out');
const chaosDir = (ctx: ModuleContext, out: string | undefined) => join(outDir(ctx, out), 'chaos');
/** Each node's control plane and NATS port, with the CA (out/<node>/ca.pem) that pins its server certificate. */
const workloadNodes = (ctx: ModuleContext, out: string | undefined): WorkloadNode[] =>
  probeNodes(nodesOf('cluster_chaos', ctx.vars)).map((n) => ({ name: n.name, url: `http://${n.ip}:${n.httpPort}`, nats: `nats://${n.ip}:${n.natsPort}`, ca: nodeFiles(outDir(ctx, out), n.name).clientCa, seedFile: nodeFiles(outDir(ctx, out), n.name).internalSeed }));

/** A run id: UTC time to the second (room names use it: lowercase, digits, '-'). */
export function newRunId(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** The run named, or the latest one started (out/chaos/latest). */
async function runOf(facts: FactReader, dir: string, named: string | undefined): Promise<string | null> {
  if (named && named !== 'latest') {
    if (!/^[0-9]{8}-[0-9]{6}$/.test(named)) throw new ModuleArgsError('cluster_chaos', 'run', `${JSON.stringify(named)} is not a run id (expected YYYYMMDD-HHMMSS, a folder of ${dir})`);
    return named;
  }
  const latest = await facts.content(join(dir, LATEST_FILE));
  return latest ? latest.toString('utf8').trim() || null : null;
}

/** The recorded workload PID when that process is still the workload, read through the fact reader. */
export async function runningWorkload(facts: FactReader, pidFile: string): Promise<number | null> {
  const text = await facts.content(pidFile);
  return workloadPidOf(text ? text.toString('utf8') : null, async (pid) => (await facts.content(`/proc/${pid}/cmdline`).catch(() => null))?.toString('utf8') ?? null);
}

export const cluster_chaos_key = defineModule({
  name: 'cluster_chaos_key',
  argsSchema: { type: 'object', additionalProperties: false, properties: { path: { type: 'string' } } } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const path = args.path ?? join(projectDirOf(ctx.baseDirs), 'secrets', 'chaos.key');
    const cur = await ctx.facts.content(path);
    if (cur) {
      const text = cur.toString('utf8').trim();
      if (!/^[0-9a-f]{64}$/.test(text)) return { changed: false, failed: true, reason: `${path}: expected a 32-byte Ed25519 seed as 64 lowercase hex digits: not overwritten`, commands: [] };
      const [st] = await ctx.facts.read(PATH_STAT, [path]);
      const pubkey = rawPublicKey(Buffer.from(text, 'hex')).toString('hex');
      const result = { path, pubkey };
      if (st!.exists && st!.mode === 0o600) return { changed: false, reason: `workload key present (sign_pub ${pubkey.slice(0, 12)}…)`, commands: [], result };
      return { changed: true, reason: `workload key mode ${st!.exists ? formatMode(st!.mode) : '?'} -> 0600`, commands: [pathCommands.chmod(0o600, path)], result };
    }
    const seed = randomBytes(32);
    const pubkey = rawPublicKey(seed).toString('hex');
    return {
      changed: true,
      reason: `new workload key ${path} (sign_pub ${pubkey.slice(0, 12)}…)`,
      commands: [
        { kind: 'exec', argv: ['mkdir', '-p', '-m', '0700', dirname(path)] },
        { kind: 'upload', path, content: new Secret(seed.toString('hex') + '\n'), mode: 0o600 },
      ],
      result: { path, pubkey },
    };
  },
});

const workloadSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: { enum: ['started', 'stopped'] },
    /** The admin the workload adds its users as (and revokes the probe's). */
    handle: { type: 'string' },
    key: { type: 'string' },
    out: { type: 'string' },
    clients: { type: ['integer', 'string'] },
    data_clients: { type: ['integer', 'string'] },
    /** A write to the bare nats-server floor stream every this many ms (0: none). */
    floor_every: { type: ['integer', 'string'] },
    read_share: { type: ['number', 'string'] },
    writers: { type: ['integer', 'string'] },
    rooms_per_writer: { type: ['integer', 'string'] },
    pool: { type: ['integer', 'string'] },
    timeout_ms: { type: ['integer', 'string'] },
    revoke_every: { type: ['number', 'string'] },
    replay_share: { type: ['number', 'string'] },
    seed: { type: ['integer', 'string'] },
    max_seconds: { type: ['number', 'string'] },
  },
} as const satisfies ArgsSchema;

/** A number arg that may be written as a string (a rendered variable), bounded; `int` wants an integer. */
/** A numeric argument of `module` (a number, or a rendered string), its default when absent, refused outside [min, max]. */
function bounded(module: string, field: string, v: number | string | undefined, dflt: number, min: number, max: number, int = true): number {
  const n = v === undefined || v === '' ? dflt : Number(v);
  if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min || n > max) throw new ModuleArgsError(module, field, `expected ${int ? 'an integer' : 'a number'} between ${min} and ${max}, got ${JSON.stringify(v)}`);
  return n;
}

export const cluster_chaos_workload = defineModule({
  name: 'cluster_chaos_workload',
  argsSchema: workloadSchema,
  async plan(args, ctx) {
    const W = 'cluster_chaos_workload';
    const dir = chaosDir(ctx, args.out);
    const pidFile = join(dir, WORKLOAD_PID_FILE);
    const pid = await runningWorkload(ctx.facts, pidFile);
    const stop = { kind: 'exec' as const, argv: stepArgv('chaos', ['stop']), stdin: JSON.stringify({ pidFile, graceS: 15 }), timeoutMs: 30_000, label: `stop the workload (pid ${pid}, SIGTERM, SIGKILL after 15 s)` };
    if (args.state === 'stopped') {
      const run = await runOf(ctx.facts, dir, undefined);
      const result = { run, run_dir: run ? join(dir, run) : null, pid };
      if (pid === null) return { changed: false, reason: 'no workload running', commands: [], result };
      return { changed: true, reason: `stop the workload (pid ${pid})`, commands: [stop], result };
    }
    const handle = args.handle ?? 'chaos';
    const keyFile = args.key;
    if (keyFile === undefined) throw new ModuleArgsError('cluster_chaos_workload', 'key', 'is required (expected a string)');
    const run = newRunId();
    const config: WorkloadConfig = {
      run,
      runDir: join(dir, run),
      nodes: workloadNodes(ctx, args.out),
      admin: { handle, keyFile },
      clientsPerNode: bounded(W, 'clients', args.clients, 4, 1, 64),
      dataClients: bounded(W, 'data_clients', args.data_clients, 2, 0, 16),
      floorEveryMs: bounded(W, 'floor_every', args.floor_every, 50, 0, 10_000),
      readShare: bounded(W, 'read_share', args.read_share, 0.5, 0, 1, false),
      writers: bounded(W, 'writers', args.writers, 4, 1, 64),
      roomsPerWriter: bounded(W, 'rooms_per_writer', args.rooms_per_writer, 40, 1, 10_000),
      pool: bounded(W, 'pool', args.pool, 24, 1, 1000),
      timeoutMs: bounded(W, 'timeout_ms', args.timeout_ms, 3000, 100, 60_000),
      revokeEveryMs: bounded(W, 'revoke_every', args.revoke_every, 5, 0, 600, false) * 1000,
      replayShare: bounded(W, 'replay_share', args.replay_share, 0.05, 0, 1, false),
      // The nonce's lifetime (NONCE_TTL_MS): a replay later than that meets a timestamp out of its window anyway.
      replayWithinMs: 150_000,
      seed: bounded(W, 'seed', args.seed, newSeed(), 0, MAX_SEED),
      maxSeconds: parseSeconds('cluster_chaos_workload', 'max_seconds', args.max_seconds, 600, 6 * 3600),
      // The `unibus play` process: the workload ends with the run even when no stop task is reached.
      parentPid: process.pid,
    };
    const start = {
      kind: 'exec' as const,
      argv: stepArgv('chaos', ['start']),
      stdin: JSON.stringify({ config, pidFile, latestFile: join(dir, LATEST_FILE), ackWithinS: 30 }),
      timeoutMs: 45_000,
      label: `start the workload ${run} (seed ${config.seed}, ${config.clientsPerNode} clients per node, admin ${handle}) through ${config.nodes.map((n) => n.name).join(', ')} (history ${config.runDir})`,
    };
    const result = { run, run_dir: config.runDir, seed: config.seed };
    return {
      changed: true,
      reason: `${pid === null ? '' : `replace the workload left running (pid ${pid}); `}start the workload ${run}`,
      commands: [{ kind: 'exec', argv: ['mkdir', '-p', '-m', '0700', dir] }, ...(pid === null ? [] : [stop]), start],
      result,
    };
  },
});


/**
 * A node that is healthy again may still refuse writes for a while (stream
 * leaders elected anew): the next fault waits until every node has
 * acknowledged a write sent after this task began, so that each fault starts
 * from a cluster that serves. The wait (steps/chaos.ts served) reads the
 * journal only.
 */
export const cluster_chaos_served = defineModule({
  name: 'cluster_chaos_served',
  argsSchema: { type: 'object', additionalProperties: false, properties: { timeout: { type: ['number', 'string'] }, run: { type: 'string' }, out: { type: 'string' } } } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    if (ctx.check) return { changed: false, reason: 'waits for the workload once it runs', commands: [] };
    const dir = chaosDir(ctx, args.out);
    const run = await runOf(ctx.facts, dir, args.run);
    if (!run) return { changed: false, failed: true, reason: `no workload run in ${dir}`, commands: [] };
    const timeoutS = parseSeconds('cluster_chaos_served', 'timeout', args.timeout, 60, 600);
    const nodes = workloadNodes(ctx, args.out).map((n) => n.name);
    // The wait is a step apply runs: plan() only found the run.
    const stdin = JSON.stringify({ runDir: join(dir, run), nodes, since: Date.now(), timeoutMs: timeoutS * 1000 });
    const wait: Command = { kind: 'exec', argv: stepArgv('chaos', ['served']), stdin, timeoutMs: (timeoutS + 30) * 1000, label: `wait up to ${timeoutS} s until ${nodes.join(', ')} each acknowledge a write` };
    return { changed: false, reason: `every node acknowledges writes again (up to ${timeoutS} s)`, commands: [wait] };
  },
});

/**
 * A fault's window in the run's history: `open` right before the fault is
 * injected, `close` once it is healed; the checker then counts what happened
 * inside it and how long writes were refused (FaultRecord, history.ts).
 */
export const cluster_chaos_window = defineModule({
  name: 'cluster_chaos_window',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['state', 'id'],
    properties: {
      state: { enum: ['open', 'closed'] },
      id: { type: 'string', pattern: '^[a-z0-9-]{1,40}$' },
      family: { enum: FAULT_FAMILIES },
      name: { type: 'string' },
      targets: { type: 'array', items: { type: 'string' } },
      no_quorum: { type: 'array', items: { type: 'string' } },
      // open: seconds to hold after it is recorded (a kill's downtime)
      hold: { type: ['number', 'string'] },
      // closed: the window's end (epoch ms; default now), waited for when `wait`
      end_ms: { type: ['integer', 'string'] },
      wait: { type: 'boolean' },
      run: { type: 'string' },
      out: { type: 'string' },
    },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const dir = chaosDir(ctx, args.out);
    const run = await runOf(ctx.facts, dir, args.run);
    if (!run && !ctx.check) return { changed: false, failed: true, reason: `no workload run in ${dir}: no window to record`, commands: [] };
    const runDir = join(dir, run ?? '<run>');
    const action = args.state === 'open' ? 'open' : 'close';
    const holdS = args.hold === undefined ? 0 : parseSeconds('cluster_chaos_window', 'hold', args.hold, 0, 600);
    const endMs = args.end_ms === undefined || args.end_ms === '' ? undefined : Number(args.end_ms);
    if (endMs !== undefined && !Number.isSafeInteger(endMs)) throw new ModuleArgsError('cluster_chaos_window', 'end_ms', `${JSON.stringify(args.end_ms)} is not a time in epoch milliseconds`);
    const waitMs = args.wait && endMs !== undefined ? Math.max(0, endMs - Date.now()) : 0;
    const stdin = JSON.stringify({ runDir, action, id: args.id, family: args.family ?? 'kill', name: args.name ?? args.id, targets: args.targets ?? [], noQuorum: args.no_quorum ?? [], holdS, endMs, wait: args.wait ?? false });
    const what = `${action === 'open' ? 'begin' : 'end'} the window of ${args.name ?? args.id}${holdS ? `, hold ${holdS} s` : ''}${waitMs ? `, at ${new Date(endMs!).toISOString()}` : ''}`;
    return { changed: false, reason: what, commands: [{ kind: 'exec', argv: stepArgv('chaos', ['window']), stdin, timeoutMs: 30_000 + holdS * 1000 + waitMs, label: `${what} in ${runDir}` }] };
  },
});

/**
 * Makes a node the leader of a stream, or with `away` a follower of every
 * stream it leads but those in `keep` (step-downs, bounded; a step whose
 * verdict says whether it did).
 */
export const cluster_chaos_lead = defineModule({
  name: 'cluster_chaos_lead',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['node'],
    properties: {
      stream: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
      node: { type: 'string' },
      away: { type: 'boolean' },
      keep: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
      out: { type: 'string' },
    },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const M = 'cluster_chaos_lead';
    const nodes = nodesOf(M, ctx.vars);
    if (!nodes.some((n) => n.name === args.node)) throw new ModuleArgsError(M, 'node', `${JSON.stringify(args.node)} is not a node of the inventory`);
    if (args.away && args.stream !== undefined) throw new ModuleArgsError(M, 'stream', 'is not taken with away: true (the node is stepped down from every stream it leads)');
    if (!args.away && args.stream === undefined) throw new ModuleArgsError(M, 'stream', 'is required unless away: true');
    if (!args.away && args.keep !== undefined) throw new ModuleArgsError(M, 'keep', 'is taken only with away: true (the streams the node may go on leading)');
    const keep = args.keep ?? [];
    const stdin = JSON.stringify({ stream: args.stream, node: args.node, away: args.away ?? false, keep, probe: probeNodes(nodes), outDir: outDir(ctx, args.out) });
    const but = keep.length ? ` but ${keep.join(', ')}` : '';
    const label = args.away ? `step ${args.node} down from every stream it leads${but} (bounded)` : `step ${args.stream}'s leader down until ${args.node} is elected (bounded)`;
    const reason = args.away ? `make ${args.node} a follower of every stream${but}` : `make ${args.node} the leader of ${args.stream}`;
    return { changed: true, reason, commands: [{ kind: 'exec', argv: stepArgv('chaos', ['lead']), stdin, verdict: true, timeoutMs: 180_000, label }] };
  },
});

/**
 * The nemesis's seeded schedule (controller/chaos/schedule.ts), computed in
 * plan() so `--check` shows it, stored in the run (schedule.json) on apply.
 * `faults: all` is every fault this cluster supports: nodes sharing this
 * machine's loopback are cut apart with nft here, so without it partitions
 * are left out (and refused when named).
 */
/** Faults whose victims include a node that must refuse (victims.ts no_quorum). */
const QUORUM_LOSS = new Set<NemesisFault>(['pause-nats', 'pause-majority', 'partition-isolate', 'partition-majority']);

export const cluster_chaos_schedule = defineModule({
  name: 'cluster_chaos_schedule',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['seed'],
    properties: {
      seed: { type: ['integer', 'string'] },
      faults: { type: ['array', 'string'] },
      mode: { enum: ['sequential', 'combined'] },
      duration: { type: ['number', 'string'] },
      hold_min: { type: ['number', 'string'] },
      hold_max: { type: ['number', 'string'] },
      gap_min: { type: ['number', 'string'] },
      gap_max: { type: ['number', 'string'] },
      run: { type: 'string' },
      out: { type: 'string' },
    },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const M = 'cluster_chaos_schedule';
    const seed = bounded(M, 'seed', args.seed, 0, 0, MAX_SEED);
    let faults: NemesisFault[];
    let all: boolean;
    try {
      ({ faults, all } = readFaultList(args.faults ?? 'all'));
    } catch (e) {
      throw new ModuleArgsError(M, 'faults', (e as Error).message);
    }
    const nodes = nodesOf(M, ctx.vars);
    const shared = nodes.filter((n) => isLoopback(n.route_ip));
    const partitions = faults.filter((f) => NEMESIS_FAULTS[f].family === 'partition');
    let note = '';
    // Nodes on this machine's loopback are cut apart by cgroup (cluster_partition), which needs nft here.
    if (shared.length && partitions.length && !(await ctx.facts.read(PARTITION_STATE, { prefix: CHAOS_TABLE, cgroup: '' })).nft) {
      if (!all) {
        throw new ModuleArgsError(M, 'faults', `${partitions.join(', ')} refused: ${shared.map((n) => n.name).join(', ')} share this machine's loopback, where a partition needs nft (nftables) on this machine, and it is not installed`);
      }
      faults = faults.filter((f) => !partitions.includes(f));
      note = '; partitions left out (nft not installed on this machine, where the nodes share loopback)';
    }
    const sec = (k: 'duration' | 'hold_min' | 'hold_max' | 'gap_min' | 'gap_max', dflt: number, min: number, max: number) => bounded(M, k, args[k], dflt, min, max, false);
    const opts = { seed, faults, mode: args.mode ?? 'sequential', durationS: sec('duration', 300, 1, 86_400), holdMinS: sec('hold_min', 1, 0.1, 600), holdMaxS: sec('hold_max', 30, 0.1, 600), gapMinS: sec('gap_min', 0, 0, 600), gapMaxS: sec('gap_max', 10, 0, 600) } as const;
    let sched: ScheduledFault[];
    try {
      sched = makeSchedule(opts);
    } catch (e) {
      throw new ModuleArgsError(M, 'faults', (e as Error).message);
    }
    const dir = chaosDir(ctx, args.out);
    const run = await runOf(ctx.facts, dir, args.run);
    if (!run && !ctx.check) return { changed: false, failed: true, reason: `no workload run in ${dir}: no schedule to store`, commands: [] };
    const runDir = join(dir, run ?? '<run>');
    const counts = new Map<string, number>();
    for (const f of sched) counts.set(f.fault, (counts.get(f.fault) ?? 0) + 1);
    const reason = `seed ${seed}, ${opts.mode}, ${opts.durationS} s: ${sched.length} faults (${[...counts].map(([f, n]) => `${f} ${n}`).join(', ')})${note}`;
    const stored: Omit<StoredSchedule, 't0'> = { seed, mode: opts.mode, faults: sched };
    return {
      changed: false,
      reason,
      report: true,
      commands: [{ kind: 'exec', argv: stepArgv('chaos', ['schedule']), stdin: JSON.stringify({ runDir, schedule: stored }), timeoutMs: 30_000, label: `store the schedule in ${runDir}` }],
      // Whether a window without quorum was scheduled: the check then requires one (the run proves fail-closed).
      result: { seed, mode: opts.mode, faults: sched, quorum_loss: sched.some((f) => QUORUM_LOSS.has(f.fault)) },
    };
  },
});

/**
 * Who plays a scheduled fault's role: apply waits for the fault's time, then
 * probes the cluster (a step, whose verdict is the result); check mode probes
 * now, in-process and bounded, to show who it would be.
 */
export const cluster_chaos_victims = defineModule({
  name: 'cluster_chaos_victims',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['fault'],
    properties: { fault: { type: 'object' }, run: { type: 'string' }, out: { type: 'string' } },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const f = args.fault as unknown as ScheduledFault;
    if (!f || typeof f.id !== 'string' || !(f.fault in NEMESIS_FAULTS) || typeof f.hold !== 'number') throw new ModuleArgsError('cluster_chaos_victims', 'fault', 'expected one fault of cluster_chaos_schedule\'s faults');
    const nodes = nodesOf('cluster_chaos_victims', ctx.vars);
    const probe = probeNodes(nodes);
    const named = nodes.map((n) => ({ name: n.name, ip: n.route_ip }));
    if (ctx.check) {
      const report = await probeCluster(probe, outDir(ctx, args.out), 3000);
      try {
        const v = findVictims(f, named.map((n) => n.name), report);
        return { changed: false, reason: `${f.id}: ${v.name} if it ran now`, commands: [], result: victimsResult(f, v, (n) => named.find((x) => x.name === n)!.ip, 0) };
      } catch (e) {
        if (!(e instanceof NoVictimError)) throw e;
        return { changed: false, reason: `${f.id}: ${e.message}`, commands: [], result: skippedResult(f.id, 0) };
      }
    }
    const dir = chaosDir(ctx, args.out);
    const run = await runOf(ctx.facts, dir, args.run);
    if (!run) return { changed: false, failed: true, reason: `no workload run in ${dir}: no schedule`, commands: [] };
    const stdin = JSON.stringify({ runDir: join(dir, run), fault: f, nodes: named, probe, outDir: outDir(ctx, args.out) });
    const waitS = Math.max(f.gap, f.at) + 60;
    return {
      changed: false,
      reason: `${f.id}: find its victims`,
      commands: [{ kind: 'exec', argv: stepArgv('chaos', ['victims']), stdin, verdict: true, timeoutMs: waitS * 1000 + 30_000, label: `wait for ${f.id}'s time, then probe the cluster for its victims` }],
    };
  },
});

export const cluster_chaos_check = defineModule({
  name: 'cluster_chaos_check',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { run: { type: 'string' }, out: { type: 'string' }, require_window: { type: 'boolean' }, timeout: { type: ['number', 'string'] } },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    // The read-back grows with what the run wrote: a 300 s combined run (25 min of workload) needed more than 300 s.
    const timeoutS = parseSeconds('cluster_chaos_check', 'timeout', args.timeout, 300, 6 * 3600);
    const dir = chaosDir(ctx, args.out);
    const run = await runOf(ctx.facts, dir, args.run);
    if (!run && !ctx.check) return { changed: false, failed: true, reason: `no workload run in ${dir}: nothing to check`, commands: [] };
    const runDir = join(dir, run ?? '<run>');
    const nodes = workloadNodes(ctx, args.out);
    const probe = probeNodes(nodesOf('cluster_chaos_check', ctx.vars));
    const stdin = JSON.stringify({ run: run ?? '<run>', runDir, nodes, probe, outDir: outDir(ctx, args.out), requireWindow: args.require_window ?? true });
    // The read-back is a step apply runs; its verdict is the task's reason and result.
    const check: Command = { kind: 'exec', argv: stepArgv('chaos', ['check']), stdin, timeoutMs: timeoutS * 1000, verdict: true, label: `check ${runDir}: the history, every set read back through ${nodes.map((n) => n.name).join(', ')}, and every replica read while it leads` };
    return { changed: false, reason: `check the journal of run ${run ?? '(the one started)'} against a read-back through every node`, commands: [check], report: true };
  },
});
