// `cluster_verify`'s wait on the controller: reads {nodes, out, want,
// timeoutMs} as JSON on stdin and probes the cluster every 500 ms until
// nothing drifts (exit 0, the report on stdout) or the bound passes (exit 1,
// every difference still there on stderr).
import { findDrift, type Expected } from '../probe/drift.js';
import { formatReport } from '../probe/format.js';
import { probeCluster, type ProbeNode } from '../probe/probe.js';
import { sleep } from '../../util/time.js';
import { runControllerStep } from './step.js';

runControllerStep<{ nodes: ProbeNode[]; out: string; want: Expected; timeoutMs: number }>('verify', async (o) => {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const report = await probeCluster(o.nodes, o.out);
    const drift = findDrift(report, o.want);
    if (!drift.length) {
      console.log(formatReport(report, drift));
      return 0;
    }
    if (Date.now() >= deadline) {
      process.stderr.write(`drift after ${Math.round(o.timeoutMs / 1000)} s: ${drift.join('; ')}\n`);
      return 1;
    }
    await sleep(500);
  }
});
