// `cluster_admin`'s apply step on the controller: reads {nodes, outDir,
// handle, signPub} as JSON on stdin and adds the admin (idempotent).
import { addUser } from '../daemon/store/users.js';
import { openStoreVia } from './admin.js';
import type { ProbeNode } from './probe.js';

async function main(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const o = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { nodes: ProbeNode[]; outDir: string; handle: string; signPub: string };
  const { nc, store } = await openStoreVia(o.nodes, o.outDir);
  try {
    const r = await addUser(store, { handle: o.handle, sign_pub: o.signPub, role: 'admin' });
    console.log(r.created ? `added admin ${o.handle}` : `admin ${o.handle} already present`);
    return 0;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`admin: ${err.message}\n`);
    process.exit(1);
  },
);
