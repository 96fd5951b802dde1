import { isSecret, type Secret } from '../secret.js';
import { splitCommandLine } from '../util/shell.js';
import { readHostPath, readSeconds, readString, readStringList } from './args.js';
import { ModuleArgsError } from './errors.js';
import { PATH_EXISTS } from './facts/paths.js';
import type { Command, Module, ModuleContext, ModulePlan } from './types.js';

const schemaProps = {
  argv: { type: 'array', items: { type: ['string', 'number'] } },
  cmd: { type: 'string' },
  creates: { type: 'string' },
  removes: { type: 'string' },
  chdir: { type: 'string' },
  stdin: {},
  timeout: { type: ['number', 'string'], description: 'seconds (default 300)' },
} as const;

/**
 * command and shell always report a change, unless `creates` names a path
 * that exists or `removes` one that does not: then they are skipped and say
 * why. Their result (rc, stdout, stderr) comes from running the command on
 * apply, so they are `runsOnApply`.
 */
async function planRun(name: string, argv: string[], args: Record<string, unknown>, ctx: ModuleContext): Promise<ModulePlan> {
  const sudo = ctx.become || undefined;
  if (args.creates !== undefined) {
    const p = readHostPath(name, 'creates', args.creates);
    if (await ctx.facts.read(PATH_EXISTS, p, ctx.become)) {
      return { changed: false, reason: `skipped: ${p} exists (creates)`, commands: [], result: { rc: 0, skipped: true } };
    }
  }
  if (args.removes !== undefined) {
    const p = readHostPath(name, 'removes', args.removes);
    if (!(await ctx.facts.read(PATH_EXISTS, p, ctx.become))) {
      return { changed: false, reason: `skipped: ${p} absent (removes)`, commands: [], result: { rc: 0, skipped: true } };
    }
  }
  const cmd: Command = {
    kind: 'exec',
    argv,
    sudo,
    timeoutMs: readSeconds(name, 'timeout', args.timeout, 300) * 1000,
  };
  if (args.chdir !== undefined) cmd.cwd = readHostPath(name, 'chdir', args.chdir);
  if (args.stdin !== undefined) {
    const stdin: string | Secret = isSecret(args.stdin) ? args.stdin : readString(name, 'stdin', args.stdin, true);
    cmd.stdin = stdin;
    if (isSecret(stdin)) cmd.secret = true;
  }
  return { changed: true, reason: 'commands always run', commands: [cmd] };
}

function argsSchema(required: string[]) {
  return { type: 'object', additionalProperties: false, properties: schemaProps, ...(required.length ? { required } : {}) };
}

/** Runs argv directly, never through a shell: `argv: [...]` or a free-form `cmd:` split like a shell would. */
export const command: Module = {
  name: 'command',
  argsSchema: argsSchema([]),
  runsOnApply: true,
  async plan(args, ctx) {
    const list = readStringList('command', 'argv', args.argv);
    const line = readString('command', 'cmd', args.cmd);
    if ((list === undefined) === (line === undefined)) {
      throw new ModuleArgsError('command', 'argv', 'give exactly one of argv (a list) and cmd (a string)');
    }
    const argv = list ?? splitCommandLine(line!);
    if (!argv.length) throw new ModuleArgsError('command', list ? 'argv' : 'cmd', 'is empty');
    return planRun('command', argv, args, ctx);
  },
};

/** Runs `cmd` through /bin/sh -c: pipes, redirections and expansions work. */
export const shell: Module = {
  name: 'shell',
  argsSchema: argsSchema(['cmd']),
  runsOnApply: true,
  async plan(args, ctx) {
    if (args.argv !== undefined) throw new ModuleArgsError('shell', 'argv', 'shell takes cmd (a string); use command for argv');
    const line = readString('shell', 'cmd', args.cmd, true);
    return planRun('shell', ['sh', '-c', line], args, ctx);
  },
};
