// `membershipd user add|revoke|list`: the operator's live path into the users
// bucket through the node's internal identity (the first admin is seeded this
// way while request auth stays enforced). Dispatched by src/daemon/main.ts.
import { parseArgs } from 'node:util';
import { FieldError } from '../../protocol/errors.js';
import { checkHandle } from '../../protocol/model.js';
import { addUser, checkNewUser, listUsers, revokeUser } from '../store/users.js';
import { OP_FLAG_HELP, OP_FLAG_SPEC, OperatorError, openOperatorStore, opFlags, runOp } from '../operator.js';

export const USAGE = [
  `membershipd user add --handle H --sign-pub HEX [--box-pub HEX] --role admin|member ${OP_FLAG_HELP}`,
  `membershipd user revoke --handle H ${OP_FLAG_HELP}`,
  `membershipd user list [--json] ${OP_FLAG_HELP}`,
].join('\n');

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || !['add', 'revoke', 'list'].includes(sub)) {
    process.stderr.write(`usage:\n${USAGE}\n`);
    return 2;
  }
  return runOp(`user ${sub}`, async () => {
    const { values: v } = parseArgs({
      args: rest,
      options: { ...OP_FLAG_SPEC, handle: { type: 'string' }, 'sign-pub': { type: 'string' }, 'box-pub': { type: 'string' }, role: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
    });
    // Checked before connecting, by the rule addUser applies again on write,
    // and refused under the flag's name as the operator typed it.
    const checked = <T>(fn: () => T): T => {
      try {
        return fn();
      } catch (err) {
        if (err instanceof FieldError) throw new OperatorError(`--${err.field.replace(/_/g, '-')}: expected ${err.expected}`);
        throw err;
      }
    };
    const handle = sub === 'list' ? '' : checked(() => checkHandle(v.handle));
    const newUser = sub === 'add' ? checked(() => checkNewUser({ handle, sign_pub: v['sign-pub'], box_pub: v['box-pub'], role: v.role })) : undefined;
    const { nc, store } = await openOperatorStore(opFlags(v));
    try {
      if (newUser) {
        const r = await addUser(store, newUser);
        console.log(r.created ? `added user ${handle} (${r.user.role})` : `user ${handle} unchanged (same key and role)`);
      } else if (sub === 'revoke') {
        const u = await revokeUser(store, handle);
        console.log(`user ${handle} revoked at ${u.revoked_at}`);
      } else {
        const users = await listUsers(store);
        if (v.json) console.log(JSON.stringify(users, null, 2));
        else for (const u of users) console.log(`${u.handle.padEnd(32)} ${u.role.padEnd(7)} ${u.status.padEnd(8)} ${u.sign_pub}`);
      }
      return 0;
    } finally {
      await nc.close().catch(() => {});
    }
  });
}
