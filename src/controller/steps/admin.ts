// `cluster_user`'s apply step on the controller: reads {nodes, outDir,
// handle, signPub, role} as JSON on stdin and adds the user (idempotent).
import { addUser, checkNewUser } from '../../daemon/index.js';
import { openStoreVia } from '../admin/admin.js';
import type { ProbeNode } from '../probe/probe.js';
import { runControllerStep } from './step.js';

runControllerStep<{ nodes: ProbeNode[]; outDir: string; handle: unknown; signPub: unknown; role: unknown }>('admin', async (o) => {
  // No default role: a step without one must not make an admin. Checked
  // before connecting too, so bad input never reaches a node.
  const u = checkNewUser({ handle: o.handle, sign_pub: o.signPub, role: o.role });
  const { nc, store } = await openStoreVia(o.nodes, o.outDir);
  try {
    const r = await addUser(store, u);
    console.log(r.created ? `added ${r.user.role} ${r.user.handle}` : `${r.user.handle} already present`);
    return 0;
  } finally {
    await nc.close().catch(() => undefined);
  }
});
