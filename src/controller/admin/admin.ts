// The first admin, from the inventory's cluster.admin, written into the users
// bucket through a node's internal identity (the operator path: request auth
// stays enforced, and nobody needs a signed request before the first admin).
import type { NatsConnection } from '@nats-io/transport-node';
import { openOperatorStore } from '../../daemon/index.js';
import type { Store } from '../../daemon/index.js';
import { nodeFiles } from '../../pki/layout.js';
import type { ProbeNode } from '../probe/probe.js';

/** Opens the control-plane store through the first node that answers. */
export async function openStoreVia(nodes: ProbeNode[], outDir: string): Promise<{ nc: NatsConnection; store: Store }> {
  let last: unknown;
  for (const n of nodes) {
    const f = nodeFiles(outDir, n.name);
    try {
      return await openOperatorStore({ natsUrl: `nats://${n.ip}:${n.natsPort}`, internalIdFile: f.internalSeed, ca: f.clientCa });
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`no node's control plane answered: ${(last as Error)?.message ?? 'no nodes'}`);
}

