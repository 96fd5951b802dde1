import { hostPath, modeSchema, parseMode } from './args.js';
import { defineModule } from './define.js';
import { PATH_STAT, pathCommands } from './facts/paths.js';
import { formatMode } from '../util/format.js';
import type { ArgsSchema, Command, ModulePlan } from './types.js';

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['path'],
  properties: {
    path: { type: 'string' },
    state: { enum: ['file', 'directory', 'absent', 'touch'] },
    mode: modeSchema,
    owner: { type: 'string' },
    group: { type: 'string' },
  },
} as const satisfies ArgsSchema;

/**
 * Files and folders: `directory` creates (mkdir -p), `absent` removes
 * (recursively), `file` only fixes mode/owner of an existing file, `touch`
 * creates an empty file when missing. An existing file is never touched
 * again: a second run reports no change.
 */
export const file = defineModule({
  name: 'file',
  argsSchema,
  async plan(args, ctx): Promise<ModulePlan> {
    const path = hostPath('file', 'path', args.path);
    const state = args.state ?? 'file';
    const mode = parseMode('file', 'mode', args.mode);
    const { owner, group } = args;
    const sudo = ctx.become || undefined;
    const [facts] = await ctx.facts.read(PATH_STAT, [path], ctx.become);
    const f = facts!;
    const result = { path, state };

    if (state === 'absent') {
      if (!f.exists) return { changed: false, reason: 'already absent', commands: [], result };
      return { changed: true, reason: `${path} exists`, commands: [pathCommands.remove(path, sudo)], result };
    }
    const wantType = state === 'directory' ? 'directory' : 'file';
    if (f.exists && f.type !== wantType) {
      return { changed: false, failed: true, reason: `${path} exists and is not a ${wantType}`, commands: [], result };
    }
    if (!f.exists && state === 'file') {
      return { changed: false, failed: true, reason: `${path} does not exist (state file does not create; use touch or copy)`, commands: [], result };
    }

    const commands: Command[] = [];
    const reasons: string[] = [];
    if (!f.exists) {
      commands.push(state === 'directory' ? pathCommands.mkdir(path, sudo) : pathCommands.touch(path, sudo));
      reasons.push(`${path} absent`);
    }
    if (mode !== undefined && (!f.exists || f.mode !== mode)) {
      commands.push(pathCommands.chmod(mode, path, sudo));
      if (f.exists) reasons.push(`mode ${formatMode(f.mode)} -> ${formatMode(mode)}`);
    }
    // Only what differs: an owner or group already right is not named again.
    const newOwner = f.exists && owner === f.owner ? undefined : owner;
    const newGroup = f.exists && group === f.group ? undefined : group;
    if (newOwner || newGroup) {
      commands.push(pathCommands.chown(newOwner, newGroup, path, sudo));
      if (f.exists) reasons.push(`owner ${f.owner}:${f.group} -> ${owner ?? f.owner}:${group ?? f.group}`);
    }
    if (!commands.length) return { changed: false, reason: 'up to date', commands, result };
    return { changed: true, reason: reasons.join(', '), commands, result };
  },
});
