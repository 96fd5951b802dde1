// `membershipd repair [--dry-run] [--grace S]`: rolls forward the rooms that
// requests stopped between their writes left out of step (store/repair.ts),
// now rather than at the next sweep; --dry-run only says what it would do.
import { parseArgs } from 'node:util';
import { repairRooms, REPAIR_GRACE_MS } from '../store/repair.js';
import { OP_FLAG_HELP, OP_FLAG_SPEC, OperatorError, openOperatorStore, opFlags, runOp } from '../operator.js';

export const USAGE = `membershipd repair [--dry-run] [--grace SECONDS] ${OP_FLAG_HELP}`;

export async function run(args: string[]): Promise<number> {
  return runOp('repair', async () => {
    const { values: v } = parseArgs({ args, options: { ...OP_FLAG_SPEC, 'dry-run': { type: 'boolean' }, grace: { type: 'string' } }, strict: true });
    const grace = v.grace === undefined ? REPAIR_GRACE_MS / 1000 : Number(v.grace);
    if (!Number.isFinite(grace) || grace < 0 || grace > 3600) throw new OperatorError(`--grace: expected seconds between 0 and 3600, got ${JSON.stringify(v.grace)}\nusage: ${USAGE}`);
    const { nc, store } = await openOperatorStore(opFlags(v));
    try {
      const done = await repairRooms(store, { dryRun: v['dry-run'] === true, graceMs: grace * 1000 });
      for (const r of done) console.log(`${v['dry-run'] ? 'would repair' : 'repaired'}: ${r.what}`);
      console.log(`${done.length} repair(s)${v['dry-run'] ? ' found (dry run: nothing written)' : ''}`);
      return 0;
    } finally {
      await nc.close().catch(() => {});
    }
  });
}
