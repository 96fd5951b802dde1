// `cluster_pki`'s apply step on the controller: reads {outDir, secretsDir,
// nodes, admin} as JSON on stdin, mints what the plan says, prints one line
// per written artefact. Key material stays in files (0600), never on stdout.
import { applyPki, formatAction, isNoop, planPki, type PkiOptions } from '../../pki/index.js';
import { runControllerStep } from './step.js';

runControllerStep<PkiOptions>('pki', async (o) => {
  const plan = await planPki(o);
  if (isNoop(plan)) {
    console.log('pki: nothing to mint');
    return 0;
  }
  const res = await applyPki(plan);
  for (const a of res.actions) if (a.op !== 'reuse') console.log(formatAction(a, process.cwd()));
  console.log(`pki: ${res.changed.length} files written or removed`);
  return 0;
});
