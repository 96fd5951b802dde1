// `cluster_replicas`'s read on the controller: reads {nodes, out} as JSON on
// stdin, connects with a node's internal identity, reads every replica of
// every control-plane stream (each through a reader placed on that replica,
// replicas.ts) and compares them (copies.ts). Its verdict: every copy
// equal, or each divergence named by stream and node. Nothing stored is
// written, and no leader moves.
import { diverged, describeCopy } from '../chaos/copies.js';
import { readAllReplicas, REPLICA_STREAMS } from '../chaos/replicas.js';
import { connectCluster, type ProbeNode } from '../probe/probe.js';
import { printVerdict, runControllerStep } from './step.js';

runControllerStep<{ nodes: ProbeNode[]; out: string }>('replicas', async (o) => {
  const t0 = Date.now();
  const nc = await connectCluster(o.nodes, o.out);
  try {
    const copies = await readAllReplicas(nc, REPLICA_STREAMS);
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    const wrong = copies.flatMap(diverged);
    const streams = copies.map((s) => ({
      stream: s.stream,
      copies: s.copies.map((c) => ({ node: c.node, messages: c.messages, first_seq: c.firstSeq, last_seq: c.lastSeq, ...(c.digest ? { digest: c.digest } : {}) })),
      unread: s.unread,
      diverged: diverged(s),
    }));
    const lines = copies.map((s) => `${s.stream}: ${s.copies.length ? s.copies.map(describeCopy).join(', ') : 'no copy read'}`);
    const reason = wrong.length
      ? `${wrong.length} ${wrong.length === 1 ? 'divergence' : 'divergences'}: ${wrong.join('; ')}`
      : `every replica equal, ${copies.reduce((n, s) => n + s.copies.length, 0)} copies of ${copies.length} streams read in ${seconds} s`;
    return printVerdict({ reason: `${reason}\n${lines.map((l) => `  ${l}`).join('\n')}`, failed: wrong.length > 0, result: { streams, diverged: wrong, seconds } });
  } finally {
    await nc.close().catch(() => undefined);
  }
});
