// `unibus status [-i FILE] [--json]`: the cluster at a glance from the
// controller: every node's health and posture, the meta leader, every stream's
// replicas/leader/current/lag, certificate expiry, and what drifts from the
// inventory. Exit 0 when nothing drifts, 1 on drift, 4 on bad input.
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { findDrift } from '../controller/probe/drift.js';
import { formatReport } from '../controller/probe/format.js';
import { probeNodesOf } from '../controller/probe/nodes.js';
import { probeCluster } from '../controller/probe/probe.js';
import { ConfigError, ConfigErrors } from '../errors.js';
import { loadInventory } from '../inventory/load.js';

const USAGE = 'usage: unibus status [-i FILE] [--out DIR] [--json]';

export async function run(args: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      options: { inventory: { type: 'string', short: 'i', default: 'inventory.yaml' }, out: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    }).values;
  } catch (e) {
    console.error(`unibus status: ${(e as Error).message}\n${USAGE}`);
    return 4;
  }
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  let inv;
  try {
    inv = loadInventory(v.inventory!);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ConfigErrors) {
      console.error(e.message);
      return 4;
    }
    throw e;
  }
  const nodes = probeNodesOf(inv);
  const report = await probeCluster(nodes, v.out ?? join(dirname(inv.file), 'out'));
  const drift = findDrift(report, { clusterName: inv.cluster.name, kvReplicas: inv.cluster.kv_replicas, nodeCount: nodes.length });
  if (v.json) console.log(JSON.stringify({ cluster: inv.cluster.name, ...report, drift }, null, 2));
  else console.log(`cluster ${inv.cluster.name} (${nodes.length} nodes, kv_replicas ${inv.cluster.kv_replicas})\n${formatReport(report, drift)}`);
  return drift.length ? 1 : 0;
}
