// `cluster_user`'s apply step on the controller: reads {nodes, outDir,
// handle, signPub, role} as JSON on stdin and adds the user (idempotent).
import { addUser } from '../daemon/store/users.js';
import { openStoreVia } from './admin.js';
import type { ProbeNode } from './probe.js';
import { runControllerStep } from './step.js';

runControllerStep<{ nodes: ProbeNode[]; outDir: string; handle: string; signPub: string; role?: 'admin' | 'member' }>('admin', async (o) => {
  const { nc, store } = await openStoreVia(o.nodes, o.outDir);
  try {
    const r = await addUser(store, { handle: o.handle, sign_pub: o.signPub, role: o.role ?? 'admin' });
    console.log(r.created ? `added ${o.role ?? 'admin'} ${o.handle}` : `${o.handle} already present`);
    return 0;
  } finally {
    await nc.close().catch(() => undefined);
  }
});
