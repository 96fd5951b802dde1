// Probe targets from inventory variables (`nodes`) or an Inventory: each node
// is reached on its route network's address, where membershipd listens.
import type { Inventory } from '../../inventory/types.js';
import { describeNode } from '../../inventory/vars.js';
import type { ProbeNode } from './probe.js';

interface NodeVar { name: string; route_ip: string; ports: { http: number; nats: number } }

export function probeNodesOfVars(nodes: unknown): ProbeNode[] {
  if (!Array.isArray(nodes)) throw new Error('the inventory variable `nodes` is missing');
  return (nodes as NodeVar[]).map((n) => ({ name: n.name, ip: n.route_ip, httpPort: n.ports.http, natsPort: n.ports.nats }));
}

export function probeNodesOf(inv: Inventory): ProbeNode[] {
  return probeNodesOfVars(inv.nodes.map((n) => describeNode(inv, n)));
}
