// The meta group of a cluster a test brought up, read as play replace-node
// reads it: in the system account, with a node's system identity from out/.
import { join } from 'node:path';
import { isDead, readMetaGroup, type MetaGroup } from '../../src/controller/admin/peers.js';
import { probeNodesOf } from '../../src/controller/probe/nodes.js';
import { connectFirst } from '../../src/controller/probe/probe.js';
import { loadInventory } from '../../src/inventory/load.js';
import { sleep } from '../../src/util/time.js';

export async function metaOf(inventory: string, projectDir: string): Promise<MetaGroup> {
  const { nc } = await connectFirst(probeNodesOf(loadInventory(inventory)), join(projectDir, 'out'), 4000, 'system');
  try {
    return await readMetaGroup(nc);
  } finally {
    await nc.close();
  }
}

/** Waits until the meta group counts `peer` dead (a group between leaders, the peer having led it, is asked again); bounded. */
export async function untilDead(inventory: string, projectDir: string, peer: string, timeoutMs = 60_000): Promise<void> {
  const ask = () => metaOf(inventory, projectDir).catch((e: Error) => ({ leader: null, peers: [], error: e.message }));
  for (let until = Date.now() + timeoutMs, m = await ask(); !m.peers.some((x) => x.name === peer && isDead(x)); await sleep(1000), m = await ask()) {
    if (Date.now() > until) throw new Error(`${peer} not counted dead by the meta group within ${timeoutMs} ms: ${JSON.stringify(m)}`);
  }
}
