// cluster_stage: uploads controller files (certificates, keys, the route
// secret, the membershipd bundle) to a node; checksums decide what moves.
// Unlike copy, a source that an earlier task of the same run creates (the
// certificates minted by cluster_pki) may be missing in check mode: the file
// is then predicted as a change, which is what the run will do.
import { Secret } from '../../secret.js';
import type { FromSchema } from 'json-schema-to-ts';
import { hostPath, modeSchema, parseMode } from '../args.js';
import { planFile } from '../copy.js';
import { defineModule } from '../define.js';
import { PATH_STAT } from '../facts/paths.js';
import { ModuleArgsError } from '../errors.js';
import type { ArgsSchema, Command, FileDiff } from '../types.js';
import { sha256Hex } from '../../util/hash.js';

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['files'],
  properties: {
    files: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['src', 'dest'],
        properties: { src: { type: 'string' }, dest: { type: 'string' }, mode: modeSchema, secret: { type: 'boolean' } },
      },
    },
  },
} as const satisfies ArgsSchema;

interface Item { src: string; dest: string; mode?: number; secret: boolean }

/** The files as planned: src an absolute controller path, dest absolute, the mode a number. */
function readItems(files: FromSchema<typeof argsSchema>['files']): Item[] {
  if (!files.length) throw new ModuleArgsError('cluster_stage', 'files', 'expected a non-empty list of {src, dest, mode?, secret?}');
  return files.map((o, i) => {
    if (!o.src.startsWith('/')) throw new ModuleArgsError('cluster_stage', `files[${i}].src`, 'expected an absolute controller path');
    return { src: o.src, dest: hostPath('cluster_stage', `files[${i}].dest`, o.dest), mode: parseMode('cluster_stage', `files[${i}].mode`, o.mode), secret: o.secret === true };
  });
}

export const cluster_stage = defineModule({
  name: 'cluster_stage',
  argsSchema,
  async plan(args, ctx) {
    const items = readItems(args.files);
    const commands: Command[] = [];
    const diff: FileDiff[] = [];
    const reasons: string[] = [];
    const changedFiles: string[] = [];
    // One fact read for every file: a no-op run costs one round trip, not one per file.
    const facts = await ctx.facts.read(PATH_STAT, items.map((it) => it.dest), ctx.become);
    // The sources are read on the controller through its reader, as a host's files through the host's.
    const sources = await Promise.all(items.map((it) => ctx.controller.content(it.src)));
    for (const [i, it] of items.entries()) {
      const raw = sources[i];
      if (raw) {
        const f = facts[i]!;
        const sha = sha256Hex(raw);
        if (f.exists && f.type === 'file' && f.sha256 === sha && f.mode === (it.mode ?? (it.secret ? 0o600 : 0o644))) continue;
      }
      if (!raw) {
        if (!ctx.check) return { changed: false, failed: true, reason: `${it.src} does not exist on the controller`, commands: [] };
        reasons.push(`${it.dest}: to be created from ${it.src} (made earlier in this run)`);
        changedFiles.push(it.dest);
        continue;
      }
      const content = it.secret ? new Secret(raw) : raw;
      const p = await planFile('cluster_stage', ctx, { dest: it.dest, content, mode: it.mode ?? (it.secret ? 0o600 : 0o644) });
      if (p.failed) return p;
      if (!p.changed) continue;
      commands.push(...p.commands);
      diff.push(...(p.diff ?? []));
      reasons.push(p.reason.includes(it.dest) ? p.reason : `${it.dest}: ${p.reason}`);
      changedFiles.push(it.dest);
    }
    const result = { files: items.length, changed_files: changedFiles };
    if (!changedFiles.length) return { changed: false, reason: `${items.length} files up to date`, commands: [], result };
    return { changed: true, reason: reasons.join('; '), commands, diff, result };
  },
});
