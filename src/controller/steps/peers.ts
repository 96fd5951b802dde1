// `cluster_peer_remove`'s apply step on the controller: reads {nodes, out,
// peer, replicas, timeoutMs} as JSON on stdin; removes `peer` from the meta
// group when it is still there (admin/peers.ts, in the system account), then
// waits, bounded, until every control-plane stream is at its replicas on
// live peers, led and current. Its verdict: how long it took, or what was
// still unsettled at the bound.
import { connectCluster, connectFirst, readStreams, type ProbeNode } from '../probe/probe.js';
import { describeMeta, readMetaGroup, refuseRemoval, removeMetaPeer, unsettledStreams } from '../admin/peers.js';
import { sleep } from '../../util/time.js';
import { printVerdict, runControllerStep } from './step.js';
import { NEXT } from '../admin/peers.js';

/** How long a replacement may take to count as a live peer of the meta group, or a drained node as dead. */
const JOIN_WAIT_MS = 60_000;

runControllerStep<{ nodes: ProbeNode[]; out: string; peer: string; replicas: number; leaving?: boolean; timeoutMs: number }>('peer-remove', async (o) => {
  const t0 = Date.now();
  const sys = (await connectFirst(o.nodes, o.out, 4000, 'system')).nc;
  let removed = false;
  try {
    // A replacement started just before joins the meta group within seconds, and a node drained
    // just before (leaving) is soon counted dead: both waited for, bounded.
    let meta = await readMetaGroup(sys);
    let refused = refuseRemoval(meta, o.peer, o.replicas);
    for (const until = Date.now() + JOIN_WAIT_MS; refused && (o.leaving || !refuseRemoval(meta, o.peer, 0)) && Date.now() < until; ) {
      await sleep(1000);
      meta = await readMetaGroup(sys);
      refused = refuseRemoval(meta, o.peer, o.replicas);
    }
    if (refused) return printVerdict({ reason: `${refused}; nothing removed (meta group: ${describeMeta(meta)})`, failed: true });
    if (meta.peers.some((p) => p.name === o.peer)) {
      await removeMetaPeer(sys, o.peer);
      removed = true;
      console.log(`${o.peer} removed from the meta group (leader ${meta.leader})`);
    }
  } finally {
    await sys.close().catch(() => undefined);
  }
  const nc = await connectCluster(o.nodes, o.out);
  try {
    let left: string[] = [];
    for (const until = Date.now() + o.timeoutMs; ; await sleep(500)) {
      left = unsettledStreams(await readStreams(nc), o.peer, o.replicas);
      if (!left.length || Date.now() > until) break;
    }
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    const head = removed ? `${o.peer} removed from the meta group` : `${o.peer} was no longer in the meta group`;
    if (left.length) return printVerdict({ reason: `${head}; after ${seconds} s still: ${left.join('; ')}`, failed: true, result: { changed: removed, removed, seconds } });
    return printVerdict({ reason: `${head}; every control-plane stream at R${o.replicas} on live peers, led and current, in ${seconds} s${o.leaving ? NEXT : ''}`, result: { changed: removed, removed, seconds } });
  } finally {
    await nc.close().catch(() => undefined);
  }
});
