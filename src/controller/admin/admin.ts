// The first admin, from the inventory's cluster.admin, written into the users
// bucket through a node's internal identity (the operator path: request auth
// stays enforced, and nobody needs a signed request before the first admin).
import type { NatsConnection } from '@nats-io/transport-node';
import { bindOperatorStore, getUser, type Store } from '../../daemon/index.js';
import type { UserRecord } from '../../protocol/model.js';
import { connectFirst, type ProbeNode } from '../probe/probe.js';

/** Opens the control-plane store through the first node that answers (connectFirst: each node's failure named). */
export async function openStoreVia(nodes: ProbeNode[], outDir: string): Promise<{ nc: NatsConnection; store: Store }> {
  const { nc, via } = await connectFirst(nodes, outDir, 5000);
  try {
    return { nc, store: await bindOperatorStore(nc, via) };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
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
