import type { FromSchema } from 'json-schema-to-ts';
import { isSecret } from '../secret.js';
import { splitCommandLine } from '../util/shell.js';
import { hostPath, parseSeconds, textOrSecret } from './args.js';
import { defineModule } from './define.js';
import { ModuleArgsError } from './errors.js';
import { PATH_EXISTS } from './facts/paths.js';
import type { ArgsSchema, Command, ModuleContext, ModulePlan } from './types.js';

const commandSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    argv: { type: 'array', items: { type: ['string', 'number'] } },
    cmd: { type: 'string' },
    creates: { type: 'string' },
    removes: { type: 'string' },
    chdir: { type: 'string' },
    stdin: {},
    timeout: { type: ['number', 'string'], description: 'seconds (default 300)' },
  },
} as const satisfies ArgsSchema;

const shellSchema = { ...commandSchema, required: ['cmd'] } as const satisfies ArgsSchema;

/**
 * command and shell always report a change, unless `creates` names a path
 * that exists or `removes` one that does not: then they are skipped and say
 * why. Their result (rc, stdout, stderr) comes from running the command on
 * apply.
 */
async function planRun(name: string, argv: string[], args: FromSchema<typeof commandSchema>, ctx: ModuleContext): Promise<ModulePlan> {
  const sudo = ctx.become || undefined;
  if (args.creates !== undefined) {
    const p = hostPath(name, 'creates', args.creates);
    if (await ctx.facts.read(PATH_EXISTS, p, ctx.become)) {
      return { changed: false, reason: `skipped: ${p} exists (creates)`, commands: [], result: { rc: 0, skipped: true } };
    }
  }
  if (args.removes !== undefined) {
    const p = hostPath(name, 'removes', args.removes);
    if (!(await ctx.facts.read(PATH_EXISTS, p, ctx.become))) {
      return { changed: false, reason: `skipped: ${p} absent (removes)`, commands: [], result: { rc: 0, skipped: true } };
    }
  }
  const cmd: Command = {
    kind: 'exec',
    argv,
    sudo,
    timeoutMs: parseSeconds(name, 'timeout', args.timeout, 300) * 1000,
  };
  if (args.chdir !== undefined) cmd.cwd = hostPath(name, 'chdir', args.chdir);
  if (args.stdin !== undefined) {
    const stdin = textOrSecret(name, 'stdin', args.stdin);
    cmd.stdin = stdin;
    if (isSecret(stdin)) cmd.secret = true;
  }
  return { changed: true, reason: 'commands always run', commands: [cmd] };
}

/** Runs argv directly, never through a shell: `argv: [...]` or a free-form `cmd:` split like a shell would. */
export const command = defineModule({
  name: 'command',
  argsSchema: commandSchema,
  async plan(args, ctx) {
    const list = args.argv?.map(String);
    const line = args.cmd;
    if ((list === undefined) === (line === undefined)) {
      throw new ModuleArgsError('command', 'argv', 'give exactly one of argv (a list) and cmd (a string)');
    }
    const argv = list ?? splitCommandLine(line!);
    if (!argv.length) throw new ModuleArgsError('command', list ? 'argv' : 'cmd', 'is empty');
    return planRun('command', argv, args, ctx);
  },
});

/** Runs `cmd` through /bin/sh -c: pipes, redirections and expansions work. */
export const shell = defineModule({
  name: 'shell',
  argsSchema: shellSchema,
  async plan(args, ctx) {
    if (args.argv !== undefined) throw new ModuleArgsError('shell', 'argv', 'shell takes cmd (a string); use command for argv');
    return planRun('shell', ['sh', '-c', args.cmd], args, ctx);
  },
});
