// `cluster_repair`'s apply step on the controller: reads {nodes, out,
// streams, replica?, stepTimeoutMs} as JSON on stdin; reads every copy of
// each stream (replicas.ts), judges which are damaged (repair.ts; `replica`
// names one to rebuild whatever it holds), rebuilds those streams from a
// healthy copy, reads them again and judges the result. Its verdict: what
// was rebuilt and that every copy is equal after, or why not.
import { jetstreamManager } from '@nats-io/jetstream';
import { diverged } from '../chaos/copies.js';
import { readAllReplicas } from '../chaos/replicas.js';
import { judgeCopies, rebuildCopies } from '../admin/repair.js';
import { connectCluster, type ProbeNode } from '../probe/probe.js';
import { printVerdict, runControllerStep } from './step.js';

runControllerStep<{ nodes: ProbeNode[]; out: string; streams: string[]; replica?: string; stepTimeoutMs: number }>('repair', async (o) => {
  const t0 = Date.now();
  const nc = await connectCluster(o.nodes, o.out);
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    const before = await readAllReplicas(nc, o.streams);
    const judged = await Promise.all(before.map(async (s) => judgeCopies(s, (await jsm.streams.info(s.stream)).config.num_replicas, o.replica)));
    const undecided = judged.filter((j) => j.undecided);
    const todo = judged.filter((j) => !j.undecided && j.damaged.length);
    for (const j of undecided) console.log(`${j.stream}: not judged: ${j.undecided}`);
    const done: string[] = [];
    for (const j of todo) {
      console.log(`${j.stream}: ${j.damaged.join(', ')} ${j.damaged.length === 1 ? 'differs' : 'differ'} from ${j.healthy.join(', ')}: rebuilding`);
      const t = Date.now();
      const leader = await rebuildCopies(nc, jsm, j, o.stepTimeoutMs, (s) => console.log(s));
      done.push(`${j.stream} (${j.damaged.join(', ')} rebuilt, with every other follower, from ${leader}'s copy, equal to ${j.healthy.filter((n) => n !== leader).join(', ') || 'no other'}, in ${((Date.now() - t) / 1000).toFixed(1)} s)`);
    }
    const after = todo.length ? await readAllReplicas(nc, todo.map((j) => j.stream)) : [];
    const still = after.flatMap(diverged);
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    const failed = still.length > 0 || undecided.length > 0;
    const reason = [
      done.length ? `rebuilt ${done.join('; ')}` : undecided.length ? '' : 'every copy equal: nothing to rebuild',
      ...(still.length ? [`still diverged after: ${still.join('; ')}`] : done.length ? ['every copy equal after'] : []),
      ...undecided.map((j) => `${j.stream} not judged: ${j.undecided}`),
    ].filter(Boolean).join('; ');
    return printVerdict({ reason: `${reason} (${seconds} s)`, failed, result: { changed: done.length > 0, rebuilt: todo.map((j) => ({ stream: j.stream, damaged: j.damaged, from: j.healthy })), undecided: undecided.map((j) => ({ stream: j.stream, why: j.undecided })), diverged_after: still, seconds } });
  } finally {
    await nc.close().catch(() => undefined);
  }
});
