// `cluster_backup` and `cluster_restore`'s steps on the controller, through
// a node's internal identity (the operator path):
//   backup take     {nodes, out, secretsDir, dest}: the control plane as
//                   membershipd backs it up, with the project's secrets, into
//                   a new folder under dest (admin/backup.ts)
//   backup restore  {nodes, out, from, force}: the folder checked, then every
//                   entry and blob that differs written; data written after
//                   the backup refuses it unless forced
// Each prints a verdict: what was written, and `changed`.
import { BackupError, backupStore, restoreStore } from '../../daemon/index.js';
import { readBackup, writeBackup } from '../admin/backup.js';
import { openStoreVia } from '../admin/admin.js';
import type { ProbeNode } from '../probe/probe.js';
import { printVerdict, runControllerStep } from './step.js';

interface Input {
  nodes: ProbeNode[];
  out: string;
  secretsDir?: string;
  dest?: string;
  from?: string;
  force?: boolean;
}

async function take(o: Input): Promise<number> {
  const t0 = Date.now();
  const { nc, store } = await openStoreVia(o.nodes, o.out);
  try {
    const doc = await backupStore(store);
    const { dir, secrets } = writeBackup(o.dest!, doc, o.secretsDir!);
    const entries = Object.values(doc.buckets).reduce((n, b) => n + b.length, 0);
    return printVerdict({ reason: `backup ${dir}: ${entries} entries, ${doc.blobs.length} blobs, ${secrets} secret files, sha256 ${doc.digest.slice(0, 16)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`, result: { changed: true, dir, entries, blobs: doc.blobs.length, secrets, digest: doc.digest } });
  } finally {
    await nc.close().catch(() => undefined);
  }
}

async function restore(o: Input): Promise<number> {
  const t0 = Date.now();
  const { doc } = readBackup(o.from!);
  const { nc, store } = await openStoreVia(o.nodes, o.out);
  try {
    const r = await restoreStore(store, doc, o.force === true).catch((e: unknown) => {
      // The daemon's words name its own flag; the play's is -e force=true.
      throw e instanceof BackupError ? new BackupError(e.message.replace('pass --force to overwrite', 'run again with -e force=true to overwrite')) : e;
    });
    const changed = r.written + r.blobsWritten > 0;
    return printVerdict({ reason: `restore ${o.from} (taken ${doc.created_at}): ${r.written} entries written, ${r.unchanged} unchanged, ${r.blobsWritten} blobs written (${((Date.now() - t0) / 1000).toFixed(1)} s)`, result: { changed, ...r } });
  } finally {
    await nc.close().catch(() => undefined);
  }
}

runControllerStep<Input>('backup', (o) => (process.argv[2] === 'restore' ? restore(o) : take(o)));
