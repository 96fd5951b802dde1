// cluster_verify: the cluster's posture, routes, meta leader, streams and
// certificates, read from the controller (delegate_to: controller, run_once).
// It probes once; while something drifts, apply waits (a controller step,
// steps/verify.ts, bounded by `timeout`) until nothing does, and the step's
// verdict is the task's: verified, or a drift left at the bound, which fails
// the task with every difference named. Check mode probes
// too, unless `in_check: skip` (bringup, where the cluster is not up yet).
import { join } from 'node:path';
import { projectDirOf } from '../../controller/paths.js';
import { findDrift } from '../../controller/probe/drift.js';
import { formatVerdict } from '../../controller/probe/format.js';
import { probeNodes } from '../../controller/probe/nodes.js';
import { parseSeconds } from '../args.js';
import { ModuleArgsError } from '../errors.js';
import { stepArgv } from '../../controller/steps/step.js';
import { defineModule } from '../define.js';
import type { ArgsSchema, Command } from '../types.js';
import { clusterOf, nodesOf } from './node-view.js';


export const cluster_verify = defineModule({
  name: 'cluster_verify',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      out: { type: 'string' },
      kv_replicas: { type: ['integer', 'string'] },
      timeout: { type: ['number', 'string'] },
      in_check: { enum: ['run', 'skip'] },
      posture_kv_replicas: { type: 'boolean' },
      // Append the status table (nodes, streams, certificates) to the task's line.
      table: { type: 'boolean' },
    },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    if (ctx.check && args.in_check === 'skip') {
      return { changed: false, reason: 'verified after the changes are applied', commands: [] };
    }
    const cluster = clusterOf('cluster_verify', ctx.vars);
    const nodes = probeNodes(nodesOf('cluster_verify', ctx.vars));
    const out = args.out ?? join(projectDirOf(ctx.baseDirs), 'out');
    const want = { clusterName: cluster.name, kvReplicas: Number(args.kv_replicas ?? cluster.kv_replicas), nodeCount: nodes.length, postureReplicas: args.posture_kv_replicas !== false };
    const timeoutS = parseSeconds('cluster_verify', 'timeout', args.timeout, 0, 600);
    // nats.js loads when a cluster task runs, not with every `unibus` command.
    const { probeCluster, verifyResult } = await import('../../controller/probe/probe.js');
    // One probe (each of its reads is bounded); a wait for the drift to clear is a step apply runs.
    const report = await probeCluster(nodes, out);
    const drift = findDrift(report, want);
    const result = verifyResult(report, drift);
    if (drift.length && timeoutS > 0) {
      const wait: Command = { kind: 'exec', argv: stepArgv('verify'), stdin: JSON.stringify({ nodes, out, want, timeoutMs: timeoutS * 1000, table: args.table === true }), timeoutMs: (timeoutS + 60) * 1000, verdict: true, label: `wait up to ${timeoutS} s until nothing drifts` };
      return { changed: false, reason: `waiting up to ${timeoutS} s for: ${drift.join('; ')}`, commands: [wait], result, report: args.table === true };
    }
    return { changed: false, failed: drift.length > 0, reason: formatVerdict(report, drift, want, nodes, args.table === true), commands: [], result, report: args.table === true };
  },
});

// cluster_replicas: the deep check. Every replica of every control-plane
// stream read and compared (message count, first and last sequence, a
// sha256 over every message), each divergence named by stream and node: a
// controller step (steps/replicas.ts). JetStream answers reads at a
// stream's leader only, so each copy is read through a consumer placed on
// its replica: no leader moves, nothing stored is written. Check mode says
// so and reads nothing.
export const cluster_replicas = defineModule({
  name: 'cluster_replicas',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      out: { type: 'string' },
      timeout: { type: ['number', 'string'] },
    },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const nodes = probeNodes(nodesOf('cluster_replicas', ctx.vars));
    const out = args.out ?? join(projectDirOf(ctx.baseDirs), 'out');
    const timeoutS = parseSeconds('cluster_replicas', 'timeout', args.timeout, 300, 3600);
    const cmd: Command = { kind: 'exec', argv: stepArgv('replicas'), stdin: JSON.stringify({ nodes, out }), timeoutMs: timeoutS * 1000, verdict: true, label: 'read every replica of every control-plane stream, each through a reader placed on it' };
    return { changed: false, reason: `every replica of ${nodes.length} nodes to be read and compared (no leader moves; nothing stored is written)`, commands: [cmd] };
  },
});

// cluster_repair: every copy of the control-plane streams (or `stream`) read
// as the deep check reads them; a copy that differs from a healthy majority
// (or `replica`, whatever it holds) is rebuilt from a healthy copy
// (controller/admin/repair.ts), and the copies are read again after. Check
// mode reads nothing: it names what would be read, and with `replica`, what
// would be rebuilt.
export const cluster_repair = defineModule({
  name: 'cluster_repair',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      out: { type: 'string' },
      stream: { type: 'string' },
      replica: { type: 'string' },
      step_timeout: { type: ['number', 'string'] },
    },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const M = 'cluster_repair';
    const view = nodesOf(M, ctx.vars);
    const nodes = probeNodes(view);
    const out = args.out ?? join(projectDirOf(ctx.baseDirs), 'out');
    const stream = args.stream || undefined;
    const replica = args.replica || undefined;
    const { REPLICA_STREAMS } = await import('../../controller/chaos/replicas.js');
    if (stream && !REPLICA_STREAMS.includes(stream)) throw new ModuleArgsError(M, 'stream', `${JSON.stringify(stream)}: expected one of ${REPLICA_STREAMS.join(', ')}`);
    if (replica && !view.some((n) => n.name === replica)) throw new ModuleArgsError(M, 'replica', `${JSON.stringify(replica)}: expected a node of the inventory (${view.map((n) => n.name).join(', ')})`);
    if (replica && !stream) throw new ModuleArgsError(M, 'replica', 'a replica to rebuild whatever it holds needs `stream` too');
    const stepTimeoutS = parseSeconds(M, 'step_timeout', args.step_timeout, 120, 3600);
    const streams = stream ? [stream] : REPLICA_STREAMS;
    const cmd: Command = { kind: 'exec', argv: stepArgv('repair'), stdin: JSON.stringify({ nodes, out, streams, replica, stepTimeoutMs: stepTimeoutS * 1000 }), timeoutMs: (stepTimeoutS * 3 + 600) * 1000, verdict: true, label: `read every copy of ${streams.join(', ')}; rebuild ${replica ? `${replica}'s copy` : 'each copy that differs from a healthy majority'} from a healthy one` };
    return {
      changed: !!replica,
      reason: replica ? `${replica}'s copy of ${stream} to be rebuilt from a healthy copy (the stream at R1 for about a second)` : `every copy of ${streams.length} streams to be read; a copy that differs from a healthy majority is rebuilt`,
      commands: [cmd],
    };
  },
});
