// cluster_user: a user in the users bucket (the inventory's first admin at
// bringup, or `play user-add`), from the controller through a node's internal
// identity (delegate_to: controller, run_once). Facts: the user as stored now;
// a present user with the same key and role is a no-op, one with another key
// or role, or a revoked one, is refused; a missing one is added
// (src/controller/steps/admin.ts).
import { join } from 'node:path';
import type { FromSchema } from 'json-schema-to-ts';
import { projectDirOf } from '../../controller/paths.js';
import { stepArgv } from '../../controller/steps/step.js';
import { probeNodes } from '../../controller/probe/nodes.js';
import { FieldError } from '../../protocol/errors.js';
import {
  HANDLE_EXPECTED,
  HANDLE_RE,
  ROLE_EXPECTED,
  ROLES,
  SIGN_PUB_TEXT_EXPECTED,
  SIGN_PUB_TEXT_RE,
  checkHandle,
  checkRole,
  signPubOfText,
  type Role,
  type UserRecord,
} from '../../protocol/model.js';
import { defineModule } from '../define.js';
import { ModuleArgsError } from '../errors.js';
import type { ArgsSchema } from '../types.js';
import { nodesOf } from './node-view.js';

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['handle', 'pubkey'],
  properties: {
    handle: { type: 'string', pattern: HANDLE_RE.source, description: `a handle: ${HANDLE_EXPECTED}` },
    pubkey: { type: 'string', pattern: SIGN_PUB_TEXT_RE.source, description: SIGN_PUB_TEXT_EXPECTED },
    role: { enum: ROLES, description: ROLE_EXPECTED },
    out: { type: 'string' },
  },
} as const satisfies ArgsSchema;

/**
 * The store's own checks (addUser applies them again on write), run here as
 * well so that plan() refuses, in the store's words, any args that did not
 * come through the schema; the signing key is normalised to lowercase hex.
 */
function userArgs(args: FromSchema<typeof argsSchema>): { handle: string; signPub: string; role: Role } {
  try {
    return {
      handle: checkHandle(args.handle),
      signPub: signPubOfText(args.pubkey, 'pubkey'),
      role: checkRole(args.role ?? 'admin'),
    };
  } catch (e) {
    if (e instanceof FieldError) throw new ModuleArgsError('cluster_user', e.field, `expected ${e.expected}`);
    throw e;
  }
}

export const cluster_user = defineModule({
  name: 'cluster_user',
  argsSchema,
  async plan(args, ctx) {
    const { handle, signPub, role } = userArgs(args);
    const nodes = probeNodes(nodesOf('cluster_user', ctx.vars));
    const outDir = args.out ?? join(projectDirOf(ctx.baseDirs), 'out');
    let cur: UserRecord | null;
    try {
      // nats.js loads when a cluster task runs, not with every `unibus` command.
      const { readUserVia } = await import('../../controller/admin/admin.js');
      cur = await readUserVia(nodes, outDir, handle);
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
      commands: [{ kind: 'exec', argv: stepArgv('admin'), stdin: JSON.stringify({ nodes, outDir, handle, signPub, role }), timeoutMs: 60_000, label: `add ${role} ${handle} (sign_pub ${signPub.slice(0, 12)}…)` }],
    };
  },
});
