import { UnibusError } from '../errors.js';
import type { ExecResult, Transport } from '../transport/types.js';
import { describeCommand } from './print.js';
import type { Command, Verdict } from './types.js';

/** A command of a plan exited with a code it does not accept. */
export class CommandFailedError extends UnibusError {
  constructor(
    readonly host: string,
    readonly command: Command,
    readonly result: ExecResult,
  ) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n');
    super(`${host}: command failed (rc=${result.code}): ${describeCommand(command)}${tail ? `\n${tail}` : ''}`);
  }
}

/**
 * Runs one command of a plan: an exec through `transport.exec`, an upload
 * through the transport's atomic `put`. An upload's result is rc 0 with empty
 * output. Does not throw on a non-zero exit code: see `isCommandOk`.
 */
export async function runCommand(transport: Transport, cmd: Command): Promise<ExecResult> {
  if (cmd.kind === 'upload') {
    await transport.put(cmd.path, cmd.content, {
      mode: cmd.mode,
      owner: cmd.owner,
      group: cmd.group,
      sudo: cmd.sudo,
    });
    return { code: 0, stdout: '', stderr: '' };
  }
  return transport.exec({
    argv: cmd.argv,
    stdin: cmd.stdin,
    sudo: cmd.sudo,
    cwd: cmd.cwd,
    timeoutMs: cmd.timeoutMs,
  });
}

export function isCommandOk(cmd: Command, result: ExecResult): boolean {
  if (result.code === 0) return true;
  return cmd.kind === 'exec' && (cmd.okCodes ?? []).includes(result.code);
}

export interface RunOutcome {
  /** One result per command that ran, in order. */
  results: ExecResult[];
  /** The last command's result: what `register` gets as rc/stdout/stderr. */
  last?: ExecResult;
  /** Set when a command failed; the commands after it did not run. */
  error?: CommandFailedError;
}

/**
 * Runs a plan's commands in order and stops at the first failure. Transport
 * errors (connection lost, timeout) are thrown as they are; a command that
 * exits with a non-accepted code is returned as `error`.
 */
export async function runCommands(transport: Transport, cmds: readonly Command[]): Promise<RunOutcome> {
  const results: ExecResult[] = [];
  for (const cmd of cmds) {
    const r = await runCommand(transport, cmd);
    results.push(r);
    if (!isCommandOk(cmd, r)) {
      return { results, last: r, error: new CommandFailedError(transport.host, cmd, r) };
    }
  }
  return { results, last: results.at(-1) };
}

/**
 * The verdict a plan's last command printed (Command.verdict): its last
 * stdout line as JSON. Undefined when that command carries none; a verdict
 * that cannot be read fails the task with what was printed.
 */
export function verdictOf(cmds: readonly Command[], last: ExecResult | undefined): Verdict | undefined {
  const cmd = cmds.at(-1);
  if (cmd?.kind !== 'exec' || !cmd.verdict || !last) return undefined;
  const line = last.stdout.trimEnd().split('\n').at(-1) ?? '';
  try {
    const v = JSON.parse(line) as Partial<Verdict>;
    if (typeof v.reason === 'string') return { reason: v.reason, failed: v.failed === true, result: typeof v.result === 'object' && v.result ? v.result : undefined };
  } catch {
    // not JSON: reported below
  }
  return { reason: `the step gave no verdict (expected a JSON line {reason, failed, result} last on stdout, got ${JSON.stringify(line.slice(0, 200))})`, failed: true };
}
