// `cluster_verify`'s wait on the controller: reads {nodes, out, want,
// timeoutMs, table} as JSON on stdin and probes the cluster every 500 ms
// until nothing drifts or the bound passes; its verdict (the task's reason
// and result) is the last probe: verified, or every difference still there.
import { findDrift, type Expected } from '../probe/drift.js';
import { formatVerdict } from '../probe/format.js';
import { probeCluster, verifyResult, type ProbeNode } from '../probe/probe.js';
import { sleep } from '../../util/time.js';
import { printVerdict, runControllerStep } from './step.js';

runControllerStep<{ nodes: ProbeNode[]; out: string; want: Expected; timeoutMs: number; table?: boolean }>('verify', async (o) => {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const report = await probeCluster(o.nodes, o.out);
    const drift = findDrift(report, o.want);
    const done = !drift.length || Date.now() >= deadline;
    if (done) {
      const reason = formatVerdict(report, drift, o.want, o.nodes, o.table === true);
      return printVerdict({ reason: drift.length ? `after ${Math.round(o.timeoutMs / 1000)} s, ${reason}` : reason, failed: drift.length > 0, result: verifyResult(report, drift) });
    }
    await sleep(500);
  }
});
