// The seam between the inventory and the PKI: the PKI only needs plain node data.
import type { Inventory } from '../inventory/types.js';
import type { PkiNode } from './types.js';

export function pkiNodesOf(inv: Inventory): PkiNode[] {
  return inv.nodes.map((n) => ({
    name: n.name,
    hostname: n.host,
    publicIp: n.public_ip,
    ...(n.wg_ip !== undefined ? { wgIp: n.wg_ip } : {}),
  }));
}
