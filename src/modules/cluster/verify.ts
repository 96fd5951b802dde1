// cluster_verify: the cluster's posture, routes, meta leader, streams and
// certificates, read from the controller (delegate_to: controller, run_once).
// It waits, bounded, until nothing drifts; a drift left at the bound fails
// the task with every difference named. Reads only: check mode runs it too,
// unless `in_check: skip` (bringup, where the cluster is not up yet).
import { join } from 'node:path';
import { projectDirOf } from '../../controller/paths.js';
import { findDrift } from '../../controller/probe/drift.js';
import { formatReport } from '../../controller/probe/format.js';
import { probeNodesOfVars } from '../../controller/probe/nodes.js';
import type { ClusterReport } from '../../controller/probe/probe.js';
import { readEnum, readSeconds, readString } from '../args.js';
import type { Module } from '../types.js';
import { sleep } from '../../util/time.js';


export const cluster_verify: Module = {
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
  },
  async plan(args, ctx) {
    if (ctx.check && readEnum('cluster_verify', 'in_check', args.in_check, ['run', 'skip'] as const, 'run') === 'skip') {
      return { changed: false, reason: 'verified after the changes are applied', commands: [] };
    }
    const cluster = ctx.vars.cluster as { name: string; kv_replicas: number };
    const nodes = probeNodesOfVars(ctx.vars.nodes);
    const out = readString('cluster_verify', 'out', args.out) ?? join(projectDirOf(ctx.baseDirs), 'out');
    const want = { clusterName: cluster.name, kvReplicas: Number(args.kv_replicas ?? cluster.kv_replicas), nodeCount: nodes.length, postureReplicas: args.posture_kv_replicas !== false };
    const deadline = Date.now() + readSeconds('cluster_verify', 'timeout', args.timeout, 0, 600) * 1000;
    // nats.js loads when a cluster task runs, not with every `unibus` command.
    const { probeCluster } = await import('../../controller/probe/probe.js');
    let report: ClusterReport;
    let drift: string[];
    for (;;) {
      report = await probeCluster(nodes, out);
      drift = findDrift(report, want);
      if (!drift.length || Date.now() >= deadline) break;
      await sleep(500);
    }
    const result = { report, drift, meta_leader: report.meta_leader };
    const table = args.table === true ? `\n${formatReport(report, drift)}` : '';
    if (drift.length) return { changed: false, failed: true, reason: `drift: ${drift.join('; ')}${table}`, commands: [], result };
    const streams = report.streams.length;
    return { changed: false, reason: `verified: ${nodes.length} nodes healthy, meta leader ${report.meta_leader}, ${streams} streams at R${want.kvReplicas} current; control plane at ${nodes.map((n) => `http://${n.ip}:${n.httpPort}`).join(' ')}${table}`, commands: [], result, report: args.table === true };
  },
};
