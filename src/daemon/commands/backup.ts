// `membershipd backup --out F`: every bucket and blob into one hash-verified file (0600).
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../../util/fs.js';
import { backupStore } from '../store/backup.js';
import { OP_FLAG_HELP, OP_FLAG_SPEC, OperatorError, openOperatorStore, opFlags, runOp } from '../operator.js';

export const USAGE = `membershipd backup --out FILE ${OP_FLAG_HELP}`;

export async function run(args: string[]): Promise<number> {
  return runOp('backup', async () => {
    const { values: v } = parseArgs({ args, options: { ...OP_FLAG_SPEC, out: { type: 'string' } }, strict: true });
    if (!v.out) throw new OperatorError(`--out FILE is required\nusage: ${USAGE}`);
    const { nc, store } = await openOperatorStore(opFlags(v));
    try {
      const doc = await backupStore(store);
      await writeFileAtomic(v.out, JSON.stringify(doc) + '\n', 0o600);
      const n = Object.values(doc.buckets).reduce((a, b) => a + b.length, 0);
      console.log(`backup ${v.out}: ${n} entries, ${doc.blobs.length} blobs, sha256 ${doc.digest}`);
      return 0;
    } finally {
      await nc.close().catch(() => {});
    }
  });
}
