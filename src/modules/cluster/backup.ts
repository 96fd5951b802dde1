// cluster_backup, cluster_restore: the control plane and the project's
// secrets, backed up to and restored from a folder on the controller
// (delegate_to: controller, run_once). The folder's layout and checks are
// controller/admin/backup.ts; the data goes through a node's internal
// identity (controller/steps/backup.ts).
//   cluster_backup   {dest}: a new folder under dest (default backups/)
//   cluster_restore  {from, part: secrets}: the backup's secret files into
//                    the project's secrets/, atomically, 0600: a missing one
//                    is written, an equal one left, a different one refused
//                    unless `force` (the cluster would trust another CA)
//   cluster_restore  {from, part: data}: every entry and blob that differs
//                    written; data written after the backup refuses it
//                    unless `force`
// The folder is checked (every hash, the document's digest) in the plan, so
// a damaged backup touches nothing, in check mode too.
import { join, resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { projectDirOf } from '../../controller/paths.js';
import { probeNodes } from '../../controller/probe/nodes.js';
import { stepArgv } from '../../controller/steps/step.js';
import { Secret } from '../../secret.js';
import { defineModule } from '../define.js';
import { ModuleArgsError } from '../errors.js';
import type { ArgsSchema, Command } from '../types.js';
import { nodesOf } from './node-view.js';

const STEP_TIMEOUT_MS = 600_000;

export const cluster_backup = defineModule({
  name: 'cluster_backup',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { dest: { type: 'string' }, out: { type: 'string' }, secrets: { type: 'string' } },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const project = projectDirOf(ctx.baseDirs);
    const dest = resolve(project, args.dest || 'backups');
    const input = { nodes: probeNodes(nodesOf('cluster_backup', ctx.vars)), out: args.out ?? join(project, 'out'), secretsDir: args.secrets ?? join(project, 'secrets'), dest };
    const cmd: Command = { kind: 'exec', argv: stepArgv('backup', ['take']), stdin: JSON.stringify(input), timeoutMs: STEP_TIMEOUT_MS, verdict: true, label: `back up the control plane and secrets/ into a new folder under ${dest}` };
    return { changed: true, reason: `a new backup folder under ${dest} (the control plane, the project's secrets, their hashes)`, commands: [cmd] };
  },
});

export const cluster_restore = defineModule({
  name: 'cluster_restore',
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['from', 'part'],
    properties: { from: { type: 'string' }, part: { enum: ['secrets', 'data'] }, force: { type: ['boolean', 'string'] }, out: { type: 'string' }, secrets: { type: 'string' } },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const M = 'cluster_restore';
    const project = projectDirOf(ctx.baseDirs);
    if (!args.from) throw new ModuleArgsError(M, 'from', 'expected the backup folder (-e from=backups/<stamp>)');
    const from = resolve(project, args.from);
    if (!existsSync(from)) throw new ModuleArgsError(M, 'from', `${from} does not exist: expected a folder play backup wrote`);
    const force = args.force === true || String(args.force).toLowerCase() === 'true';
    const { readBackup } = await import('../../controller/admin/backup.js');
    let backup;
    try {
      backup = readBackup(from);
    } catch (e) {
      throw new ModuleArgsError(M, 'from', (e as Error).message);
    }
    if (args.part === 'secrets') {
      const secretsDir = args.secrets ?? join(project, 'secrets');
      const missing: string[] = [];
      const differ: string[] = [];
      for (const [name, content] of backup.secrets) {
        const f = join(secretsDir, name);
        if (!existsSync(f)) missing.push(name);
        else if (!readFileSync(f).equals(content)) differ.push(name);
      }
      if (differ.length && !force) {
        return { changed: false, failed: true, reason: `${differ.map((n) => join(secretsDir, n)).join(', ')} ${differ.length === 1 ? 'differs' : 'differ'} from the backup's: this project's cluster trusts other keys than the backed-up one. Restore into a fresh project (no secrets/), or -e force=true to replace them`, commands: [] };
      }
      const write = [...missing, ...differ];
      if (!write.length) return { changed: false, reason: `secrets/ holds the backup's ${backup.secrets.size} files`, commands: [] };
      const commands: Command[] = [
        { kind: 'exec', argv: ['mkdir', '-p', '-m', '700', '--', secretsDir], label: `mkdir -m 700 ${secretsDir}` },
        ...write.map((name): Command => ({ kind: 'upload', path: join(secretsDir, name), content: new Secret(backup.secrets.get(name)!), mode: 0o600 })),
      ];
      return { changed: true, reason: `${write.length} secret ${write.length === 1 ? 'file' : 'files'} from the backup into ${secretsDir}: ${write.join(', ')}${differ.length ? ` (replacing ${differ.join(', ')})` : ''}`, commands };
    }
    const input = { nodes: probeNodes(nodesOf(M, ctx.vars)), out: args.out ?? join(project, 'out'), from, force };
    const cmd: Command = { kind: 'exec', argv: stepArgv('backup', ['restore']), stdin: JSON.stringify(input), timeoutMs: STEP_TIMEOUT_MS, verdict: true, label: `write what differs from the backup ${from} (taken ${backup.doc.created_at})` };
    const entries = Object.values(backup.doc.buckets).reduce((n, b) => n + b.length, 0);
    return { changed: true, reason: `the backup's ${entries} entries and ${backup.doc.blobs.length} blobs (taken ${backup.doc.created_at}) written where they differ${force ? ', newer data overwritten' : '; newer data refuses it'}`, commands: [cmd] };
  },
});
