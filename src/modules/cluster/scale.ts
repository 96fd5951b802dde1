// cluster_scale: every control-plane stream (the KV buckets and the blob
// store) to `replicas` in place, one at a time (delegate_to: controller,
// run_once), and the nonce bucket onto the storage cluster.nonce_store asks
// for (memory needs R3 or more). Refuses unless at least `replicas` nodes are healthy; a no-op
// when every stream is there already. It never edits the inventory: its
// result says which change to make and commit.
import { join } from 'node:path';
import { projectDirOf } from '../../controller/paths.js';
import { stepArgv } from '../../controller/steps/step.js';
import { probeNodes } from '../../controller/probe/nodes.js';
import { parseSeconds } from '../args.js';
import { defineModule } from '../define.js';
import type { ArgsSchema } from '../types.js';
import { clusterOf, nodesOf } from './node-view.js';

export const cluster_scale = defineModule({
  name: 'cluster_scale',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { replicas: { type: ['integer', 'string'] }, out: { type: 'string' }, step_timeout: { type: ['number', 'string'] } },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const replicas = Number(args.replicas ?? 3);
    const cluster = clusterOf('cluster_scale', ctx.vars);
    const nonceStore = cluster.nonce_store ?? 'disk';
    const nodes = probeNodes(nodesOf('cluster_scale', ctx.vars));
    const outDir = args.out ?? join(projectDirOf(ctx.baseDirs), 'out');
    // nats.js loads when a cluster task runs, not with every `unibus` command.
    const [{ connectCluster, probeCluster }, { readReplicas, scaleSteps }, { jetstreamManager }] = await Promise.all([import('../../controller/probe/probe.js'), import('../../controller/admin/scale.js'), import('@nats-io/jetstream')]);
    const report = await probeCluster(nodes, outDir);
    const healthy = report.nodes.filter((n) => n.http === 200);
    if (healthy.length < replicas) {
      return { changed: false, failed: true, reason: `refused: R${replicas} needs ${replicas} healthy nodes, ${healthy.length} are (${report.nodes.filter((n) => n.http !== 200).map((n) => `${n.name}: ${n.reason ?? n.status}`).join('; ')})`, commands: [] };
    }
    const nc = await connectCluster(nodes.filter((n) => healthy.some((h) => h.name === n.name)), outDir);
    let below: string[];
    try {
      below = scaleSteps(await readReplicas(await jetstreamManager(nc, { timeout: 5000 })), replicas, nonceStore);
    } finally {
      await nc.close().catch(() => undefined);
    }
    const inventoryNote = cluster.kv_replicas === replicas ? '' : `; inventory change to commit: cluster.kv_replicas: ${cluster.kv_replicas} -> ${replicas}`;
    const result = { scaled: below, inventory_change: inventoryNote ? { 'cluster.kv_replicas': { from: cluster.kv_replicas, to: replicas } } : null };
    if (!below.length) return { changed: false, reason: `every stream is at R${replicas} or more${inventoryNote}`, commands: [], result };
    const stepTimeoutMs = parseSeconds('cluster_scale', 'step_timeout', args.step_timeout, 60, 600) * 1000;
    return {
      changed: true,
      reason: `to R${replicas}, one stream at a time: ${below.join(', ')}${inventoryNote}`,
      commands: [{ kind: 'exec', argv: stepArgv('scale'), stdin: JSON.stringify({ nodes, outDir, replicas, stepTimeoutMs, nonceStore }), timeoutMs: below.length * (stepTimeoutMs * 2 + 10_000), label: `scale ${below.length} stream(s) to R${replicas}, waiting for every replica current between steps` }],
      result,
    };
  },
});
