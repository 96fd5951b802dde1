import { readFileSync } from 'node:fs';
import { isSecret, Secret } from '../secret.js';
import type { FromSchema } from 'json-schema-to-ts';
import { hostPath, modeSchema, parseMode, textOrSecret } from './args.js';
import { defineModule } from './define.js';
import { ModuleArgsError } from './errors.js';
import { PATH_STAT, pathCommands, type PathFacts } from './facts/paths.js';
import { resolveLocalFile } from './local-files.js';
import { formatMode } from '../util/format.js';
import type { ArgsSchema, Command, FileDiff, ModuleContext, ModulePlan } from './types.js';
import { sha256Hex } from '../util/hash.js';

/** What copy and template both want on the host. */
export interface WantedFile {
  dest: string;
  content: Buffer | Secret;
  mode?: number;
  owner?: string;
  group?: string;
}

/** Files larger than this are not fetched for --diff. */
const MAX_DIFF_BYTES = 256 * 1024;

/** Text for a diff; binary content (a NUL byte) is summarised instead of dumped. */
function asText(b: Buffer): string {
  return b.includes(0) ? `(binary, ${b.length} bytes, sha256 ${sha256Hex(b).slice(0, 8)})\n` : b.toString('utf8');
}

async function diffFor(ctx: ModuleContext, w: WantedFile, facts: PathFacts): Promise<FileDiff> {
  const before = facts.exists ? facts.sha256 : undefined;
  if (isSecret(w.content)) {
    // Both sides are fingerprints: the old content may be a secret as well.
    return {
      path: w.dest,
      before: before ? `<redacted sha256:${before.slice(0, 8)}>` : null,
      after: w.content.toString(),
      redacted: true,
    };
  }
  const after = asText(w.content);
  if (!facts.exists) return { path: w.dest, before: null, after };
  if (facts.size > MAX_DIFF_BYTES) return { path: w.dest, before: `(${facts.size} bytes, not shown)\n`, after };
  const old = await ctx.facts.content(w.dest, ctx.become);
  return { path: w.dest, before: old ? asText(old) : null, after };
}

/**
 * Facts -> diff -> commands for one file: an atomic upload when the content
 * differs (sha256), else chmod/chown for what differs, else nothing.
 */
export async function planFile(module: string, ctx: ModuleContext, w: WantedFile): Promise<ModulePlan> {
  const [facts] = await ctx.facts.read(PATH_STAT, [w.dest], ctx.become);
  if (facts!.exists && facts!.type !== 'file') {
    return { changed: false, failed: true, reason: `${w.dest} exists and is not a regular file`, commands: [] };
  }
  const bytes = isSecret(w.content) ? w.content.reveal() : w.content;
  const sha = sha256Hex(bytes);
  const sudo = ctx.become || undefined;
  const result: Record<string, unknown> = { dest: w.dest, checksum: sha };
  if (!facts!.exists || facts!.sha256 !== sha) {
    const mode = w.mode ?? (facts!.exists ? facts!.mode : isSecret(w.content) ? 0o600 : 0o644);
    const cmd: Command = { kind: 'upload', path: w.dest, content: w.content, mode, owner: w.owner, group: w.group, sudo };
    const reason = facts!.exists
      ? `content differs (sha256 ${facts!.sha256?.slice(0, 8)} -> ${sha.slice(0, 8)})`
      : `${w.dest} absent`;
    const plan: ModulePlan = { changed: true, reason, commands: [cmd], result };
    if (ctx.diff) plan.diff = [await diffFor(ctx, w, facts!)];
    return plan;
  }
  const commands: Command[] = [];
  const reasons: string[] = [];
  if (w.mode !== undefined && facts!.mode !== w.mode) {
    commands.push(pathCommands.chmod(w.mode, w.dest, sudo));
    reasons.push(`mode ${formatMode(facts!.mode)} -> ${formatMode(w.mode)}`);
  }
  const owner = w.owner && w.owner !== facts!.owner ? w.owner : undefined;
  const group = w.group && w.group !== facts!.group ? w.group : undefined;
  if (owner || group) {
    commands.push(pathCommands.chown(owner, group, w.dest, sudo));
    reasons.push(`owner ${facts!.owner}:${facts!.group} -> ${w.owner ?? facts!.owner}:${w.group ?? facts!.group}`);
  }
  if (!commands.length) return { changed: false, reason: 'up to date', commands, result };
  return { changed: true, reason: reasons.join(', '), commands, result };
}

/** The args copy and template share. */
export const fileArgsSchemaProps = {
  dest: { type: 'string' },
  mode: modeSchema,
  owner: { type: 'string' },
  group: { type: 'string' },
  secret: { type: 'boolean', description: 'treat the content as a secret: never shown, 0600 by default' },
} as const;

const fileArgsSchema = { type: 'object', required: ['dest'], properties: fileArgsSchemaProps } as const satisfies ArgsSchema;

/** The file args common to copy and template, as planFile wants them: dest absolute, the mode a number. */
export function fileArgs(module: string, args: FromSchema<typeof fileArgsSchema>) {
  return {
    dest: hostPath(module, 'dest', args.dest),
    mode: parseMode(module, 'mode', args.mode),
    owner: args.owner,
    group: args.group,
    secret: args.secret ?? false,
  };
}

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['dest'],
  properties: { ...fileArgsSchemaProps, content: {}, src: { type: 'string' } },
} as const satisfies ArgsSchema;

export const copy = defineModule({
  name: 'copy',
  argsSchema,
  async plan(args, ctx) {
    const f = fileArgs('copy', args);
    if ((args.content === undefined) === (args.src === undefined)) {
      throw new ModuleArgsError('copy', 'content', 'give exactly one of content and src');
    }
    let content: Buffer | Secret;
    if (args.src !== undefined) {
      const src = resolveLocalFile('copy', args.src, ctx.baseDirs, 'files');
      content = readFileSync(src);
    } else {
      const text = textOrSecret('copy', 'content', args.content);
      content = isSecret(text) ? text : Buffer.from(text, 'utf8');
    }
    if (f.secret && !isSecret(content)) content = new Secret(content);
    return planFile('copy', ctx, { dest: f.dest, content, mode: f.mode, owner: f.owner, group: f.group });
  },
});
