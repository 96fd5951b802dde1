// The one place in unibus where argv becomes shell text, and shell text becomes argv.
// Every transport that needs a command string (ssh, the local runner through zx,
// the plan printer) goes through these functions, so quoting rules live here only.

/** Characters that never need quoting in a POSIX shell word. */
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes one argument for a POSIX shell (sh, bash, dash): plain words stay as
 * they are, everything else is single-quoted with embedded quotes as '\''.
 */
export function quoteArg(arg: string): string {
  if (arg === '') return "''";
  if (SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Joins argv into one shell command line, each word quoted. */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map(quoteArg).join(' ');
}

export class CommandLineSplitError extends Error {
  constructor(readonly line: string, problem: string) {
    super(`cannot split command line ${JSON.stringify(line)}: ${problem}`);
    this.name = 'CommandLineSplitError';
  }
}

/**
 * Splits a free-form command line into argv the way a POSIX shell would for
 * plain words and quotes (no expansion, no operators): used by the command
 * module's `cmd:` string form, which never runs through a shell.
 */
export function splitCommandLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new CommandLineSplitError(line, 'unterminated single quote');
      cur += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      inWord = true;
      for (;;) {
        if (i >= line.length) throw new CommandLineSplitError(line, 'unterminated double quote');
        const d = line[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < line.length && '\\"$`\n'.includes(line[i + 1]!)) {
          cur += line[i + 1];
          i += 2;
        } else {
          cur += d;
          i++;
        }
      }
      i++;
    } else if (c === '\\') {
      if (i + 1 >= line.length) throw new CommandLineSplitError(line, 'trailing backslash');
      cur += line[i + 1];
      inWord = true;
      i += 2;
    } else if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else {
      cur += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/**
 * Builds the command line a remote login shell runs: optional `cd`, optional
 * `sudo -n --`, then the quoted argv. Used by transports that can only send a
 * string (ssh); the local transport spawns argv directly.
 */
export function buildCommandLine(argv: readonly string[], opts: { sudo?: boolean; cwd?: string } = {}): string {
  const words = opts.sudo ? ['sudo', '-n', '--', ...argv] : [...argv];
  const line = quoteArgv(words);
  return opts.cwd ? `cd ${quoteArg(opts.cwd)} && ${line}` : line;
}
