// cluster_user: a user in the users bucket (the inventory's first admin at
// bringup, or `play user-add`), from the controller through a node's internal
// identity (delegate_to: controller, run_once). Facts: the user as stored now;
// a present user with the same key and role is a no-op, one with another key
// or role, or a revoked one, is refused; a missing one is added
// (src/cluster/admin-entry.ts).
import { join } from 'node:path';
import { controllerArgv, projectDirOf } from '../cluster/controller.js';
import { probeNodesOfVars } from '../cluster/nodes.js';
import type { UserRecord } from '../daemon/store/model.js';
import { readString } from './args.js';
import { ModuleArgsError } from './errors.js';
import type { Module } from './types.js';

/** `ed25519:HEX` or HEX as the inventory may give it; the users bucket keeps bare hex. */
export function signPubOf(pubkey: string): string {
  return pubkey.replace(/^ed25519:/i, '').toLowerCase();
}

export const cluster_user: Module = {
  name: 'cluster_user',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['handle', 'pubkey'],
    properties: { handle: { type: 'string' }, pubkey: { type: 'string' }, role: { enum: ['admin', 'member'] }, out: { type: 'string' } },
  },
  async plan(args, ctx) {
    const handle = readString('cluster_user', 'handle', args.handle, true);
    const signPub = signPubOf(readString('cluster_user', 'pubkey', args.pubkey, true));
    if (!/^[0-9a-f]{64}$/.test(signPub)) throw new ModuleArgsError('cluster_user', 'pubkey', 'expected an Ed25519 public key: 64 hex digits, optionally prefixed ed25519:');
    const role = args.role === 'member' ? 'member' : 'admin';
    const nodes = probeNodesOfVars(ctx.vars.nodes);
    const outDir = readString('cluster_user', 'out', args.out) ?? join(projectDirOf(ctx.baseDirs), 'out');
    let cur: UserRecord | null;
    try {
      // nats.js loads when a cluster task runs, not with every `unibus` command.
      const [{ openStoreVia }, { getUser }] = await Promise.all([import('../cluster/admin.js'), import('../daemon/store/users.js')]);
      const { nc, store } = await openStoreVia(nodes, outDir);
      try {
        cur = await getUser(store, handle);
      } finally {
        await nc.close().catch(() => undefined);
      }
    } catch (e) {
      if (!ctx.check) throw e;
      cur = null; // the cluster is not up before the run that brings it up
    }
    if (cur && cur.status === 'active' && cur.sign_pub === signPub && cur.role === role) {
      return { changed: false, reason: `${role} ${handle} present`, commands: [] };
    }
    if (cur) return { changed: false, failed: true, reason: `user ${handle} exists as ${cur.role}/${cur.status} with ${cur.sign_pub === signPub ? 'this' : 'another'} key: not changed`, commands: [] };
    return {
      changed: true,
      reason: `add ${role} ${handle}`,
      commands: [{ kind: 'exec', argv: controllerArgv('admin-entry'), stdin: JSON.stringify({ nodes, outDir, handle, signPub, role }), timeoutMs: 60_000, label: `add ${role} ${handle} (sign_pub ${signPub.slice(0, 12)}…)` }],
    };
  },
};
