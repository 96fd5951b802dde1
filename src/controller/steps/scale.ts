// `cluster_scale`'s apply step on the controller: reads {nodes, outDir,
// replicas, stepTimeoutMs, nonceStore} as JSON on stdin and scales the
// control-plane streams one at a time (scale.ts), printing each step.
import { connectCluster, type ProbeNode } from '../probe/probe.js';
import { scaleStreams } from '../admin/scale.js';
import type { NonceStore } from '../../daemon/index.js';
import { runControllerStep } from './step.js';

runControllerStep<{ nodes: ProbeNode[]; outDir: string; replicas: number; stepTimeoutMs: number; nonceStore?: NonceStore }>('scale', async (o) => {
  const nc = await connectCluster(o.nodes, o.outDir);
  try {
    const done = await scaleStreams(nc, o.replicas, o.stepTimeoutMs, (s) => console.log(s), o.nonceStore);
    console.log(`scaled ${done.length} stream(s) to R${o.replicas}`);
    return 0;
  } finally {
    await nc.close().catch(() => undefined);
  }
});
