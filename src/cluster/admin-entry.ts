// `cluster_user`'s apply step on the controller: reads {nodes, outDir,
// handle, signPub, role} as JSON on stdin and adds the user (idempotent).
import { addUser } from '../daemon/store/users.js';
import { openStoreVia } from './admin.js';
import type { ProbeNode } from './probe.js';

async function main(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const o = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { nodes: ProbeNode[]; outDir: string; handle: string; signPub: string; role?: 'admin' | 'member' };
  const { nc, store } = await openStoreVia(o.nodes, o.outDir);
  try {
    const r = await addUser(store, { handle: o.handle, sign_pub: o.signPub, role: o.role ?? 'admin' });
    console.log(r.created ? `added ${o.role ?? 'admin'} ${o.handle}` : `${o.handle} already present`);
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
