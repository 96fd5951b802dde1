// `cluster_scale`'s apply step on the controller: reads {nodes, outDir,
// replicas, stepTimeoutMs} as JSON on stdin and scales the control-plane
// streams one at a time (scale.ts), printing each step.
import { connectCluster, type ProbeNode } from './probe.js';
import { scaleStreams } from './scale.js';

async function main(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const o = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { nodes: ProbeNode[]; outDir: string; replicas: number; stepTimeoutMs: number };
  const nc = await connectCluster(o.nodes, o.outDir);
  try {
    const done = await scaleStreams(nc, o.replicas, o.stepTimeoutMs, (s) => console.log(s));
    console.log(`scaled ${done.length} stream(s) to R${o.replicas}`);
    return 0;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`scale: ${err.message}${err.cause ? ` (${(err.cause as Error).message})` : ''}\n`);
    process.exit(1);
  },
);
