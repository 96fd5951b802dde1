// cluster_admin: the inventory's first admin in the users bucket
// (delegate_to: controller, run_once). Facts: the user as stored now; a
// present admin with the same key is a no-op, one with another key or a
// revoked one is refused, a missing one is added (src/cluster/admin-entry.ts).
import { join } from 'node:path';
import { openStoreVia, signPubOf } from '../cluster/admin.js';
import { controllerArgv, projectDirOf } from '../cluster/controller.js';
import { probeNodesOfVars } from '../cluster/nodes.js';
import { getUser } from '../daemon/store/users.js';
import type { UserRecord } from '../daemon/store/model.js';
import { readString } from './args.js';
import { ModuleArgsError } from './errors.js';
import type { Module } from './types.js';

export const cluster_admin: Module = {
  name: 'cluster_admin',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['handle', 'pubkey'],
    properties: { handle: { type: 'string' }, pubkey: { type: 'string' }, out: { type: 'string' } },
  },
  async plan(args, ctx) {
    const handle = readString('cluster_admin', 'handle', args.handle, true);
    const signPub = signPubOf(readString('cluster_admin', 'pubkey', args.pubkey, true));
    if (!/^[0-9a-f]{64}$/.test(signPub)) throw new ModuleArgsError('cluster_admin', 'pubkey', 'expected an Ed25519 public key: 64 hex digits, optionally prefixed ed25519:');
    const nodes = probeNodesOfVars(ctx.vars.nodes);
    const outDir = readString('cluster_admin', 'out', args.out) ?? join(projectDirOf(ctx.baseDirs), 'out');
    let cur: UserRecord | null;
    try {
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
    if (cur && cur.status === 'active' && cur.sign_pub === signPub && cur.role === 'admin') {
      return { changed: false, reason: `admin ${handle} present`, commands: [] };
    }
    if (cur) return { changed: false, failed: true, reason: `user ${handle} exists as ${cur.role}/${cur.status} with ${cur.sign_pub === signPub ? 'this' : 'another'} key: not changed`, commands: [] };
    return {
      changed: true,
      reason: `add admin ${handle}`,
      commands: [{ kind: 'exec', argv: controllerArgv('admin-entry'), stdin: JSON.stringify({ nodes, outDir, handle, signPub }), timeoutMs: 60_000, label: `add admin ${handle} (sign_pub ${signPub.slice(0, 12)}…)` }],
    };
  },
};
