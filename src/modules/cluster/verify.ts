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
