// cluster_pki: the cluster's certificates and secrets on the controller
// (delegate_to: controller, run_once). The plan is src/pki's own plan, so
// check mode says exactly which files a run mints; apply runs the minting as
// a controller command (src/controller/steps/pki.ts) with its options on stdin.
import { join } from 'node:path';
import { projectDirOf } from '../../controller/paths.js';
import { stepArgv } from '../../controller/steps/step.js';
import type { PkiNode } from '../../pki/index.js';
import { defineModule } from '../define.js';
import { ModuleArgsError } from '../errors.js';
import type { ArgsSchema } from '../types.js';
import { nodesOf } from './node-view.js';

function pkiNodes(vars: Record<string, unknown>): PkiNode[] {
  const nodes = nodesOf('cluster_pki', vars);
  if (!nodes.length) throw new ModuleArgsError('cluster_pki', 'nodes', 'the inventory variable `nodes` is missing');
  return nodes.map((n) => ({ name: n.name, hostname: n.host, publicIp: n.public_ip, ...(n.wg_ip ? { wgIp: n.wg_ip } : {}) }));
}

export const cluster_pki = defineModule({
  name: 'cluster_pki',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { out: { type: 'string' }, secrets: { type: 'string' }, admin: { type: 'boolean' }, route_ca: { enum: ['keep', 'rotate', 'drop'] } },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const project = projectDirOf(ctx.baseDirs);
    const routeCa = args.route_ca ?? 'keep';
    const opts = {
      outDir: args.out ?? join(project, 'out'),
      secretsDir: args.secrets ?? join(project, 'secrets'),
      nodes: pkiNodes(ctx.vars),
      admin: args.admin ?? false,
      // rotate: a new route CA beside the old (bundles of both, new route leaves); drop: the old one goes.
      forceRouteCa: routeCa === 'rotate',
      dropOldRouteCa: routeCa === 'drop',
    };
    // pkijs loads when certificates are planned, not with every `unibus` command.
    const { formatAction, isNoop, planPki } = await import('../../pki/index.js');
    const plan = await planPki(opts);
    const result = { out: opts.outDir, secrets: opts.secretsDir };
    if (isNoop(plan)) return { changed: false, reason: `certificates and secrets up to date (${plan.actions.length} reused)`, commands: [], result };
    const todo = plan.actions.filter((a) => a.op !== 'reuse');
    return {
      changed: true,
      reason: todo.map((a) => formatAction(a, project)).join('; '),
      commands: [{ kind: 'exec', argv: stepArgv('pki'), stdin: JSON.stringify(opts), timeoutMs: 120_000, label: `mint ${todo.length} certificate/secret artefact(s) into ${opts.outDir} and ${opts.secretsDir}` }],
      result,
    };
  },
});
