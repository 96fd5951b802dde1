// The first admin, from the inventory's cluster.admin, written into the users
// bucket through a node's internal identity (the operator path: request auth
// stays enforced, and nobody needs a signed request before the first admin).
import type { NatsConnection } from '@nats-io/transport-node';
import { getUser, openOperatorStore, type Store } from '../../daemon/index.js';
import type { UserRecord } from '../../protocol/model.js';
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


/** A user's record as the cluster has it now (null: no such user), read through the first node that answers. */
export async function readUserVia(nodes: ProbeNode[], outDir: string, handle: string): Promise<UserRecord | null> {
  const { nc, store } = await openStoreVia(nodes, outDir);
  try {
    return await getUser(store, handle);
  } finally {
    await nc.close().catch(() => undefined);
  }
}
