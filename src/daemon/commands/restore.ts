// `membershipd restore --in F [--force]`: verify the file, then write what differs.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { checkBackupDoc, restoreStore } from '../store/backup.js';
import { OP_FLAG_HELP, OP_FLAG_SPEC, OperatorError, openOperatorStore, opFlags, runOp } from '../operator.js';

export const USAGE = `membershipd restore --in FILE [--force] ${OP_FLAG_HELP}`;

export async function run(args: string[]): Promise<number> {
  return runOp('restore', async () => {
    const { values: v } = parseArgs({ args, options: { ...OP_FLAG_SPEC, in: { type: 'string' }, force: { type: 'boolean' } }, strict: true });
    if (!v.in) throw new OperatorError(`--in FILE is required\nusage: ${USAGE}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(v.in, 'utf8'));
    } catch (cause) {
      throw new OperatorError(`${v.in}: cannot read a backup (expected the JSON file membershipd backup wrote)`, { cause });
    }
    const doc = checkBackupDoc(parsed, v.in);
    const { nc, store } = await openOperatorStore(opFlags(v));
    try {
      const r = await restoreStore(store, doc, !!v.force);
      console.log(`restore ${v.in}: ${r.written} entries written, ${r.unchanged} unchanged, ${r.blobsWritten} blobs written`);
      return 0;
    } finally {
      await nc.close().catch(() => {});
    }
  });
}
