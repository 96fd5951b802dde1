// Probe targets from the nodes as plays see them (the `nodes` variable) or an
// Inventory: each node is reached on its route network's address, where
// membershipd listens.
import type { Inventory, NodeView } from '../../inventory/types.js';
import { describeNode } from '../../inventory/vars.js';
import type { ProbeNode } from './probe.js';

export function probeNodes(nodes: readonly Pick<NodeView, 'name' | 'route_ip' | 'ports'>[]): ProbeNode[] {
  return nodes.map((n) => ({ name: n.name, ip: n.route_ip, httpPort: n.ports.http, natsPort: n.ports.nats }));
}

export function probeNodesOf(inv: Inventory): ProbeNode[] {
  return probeNodes(inv.nodes.map((n) => describeNode(inv, n)));
}
