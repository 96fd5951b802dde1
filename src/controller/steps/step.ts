// Controller steps: programs that cluster tasks run as commands (commands are
// data: a module returns an argv, the executor runs it). One way to start
// them (stepArgv: this same unibus, from source under tsx or from dist/,
// whichever is running now) and one frame for them (runControllerStep: input
// as JSON on stdin, lines on stdout, the step's exit code, and a failure as
// one `name: message (cause)` line on stderr).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** The names of the step programs in this folder. */
export type StepName = 'admin' | 'backup' | 'bundle' | 'chaos' | 'chaos-workload' | 'nats-server' | 'peers' | 'pki' | 'repair' | 'replicas' | 'scale' | 'verify';

/** argv that runs src/controller/steps/<name>.ts (or dist/controller/steps/<name>.js) with this node. */
export function stepArgv(name: StepName, args: string[] = []): string[] {
  const file = join(HERE, `${name}${FROM_SOURCE ? '.ts' : '.js'}`);
  // An absolute loader path: the command may run with any working folder.
  const loader = FROM_SOURCE ? ['--import', import.meta.resolve('tsx')] : [];
  return [process.execPath, ...loader, file, ...args];
}

export async function readJsonStdin<T>(): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}

export function runControllerStep<T>(name: string, step: (input: T) => Promise<number>): void {
  readJsonStdin<T>()
    .then(step)
    .then(
      (code) => process.exit(code),
      (err: Error) => {
        process.stderr.write(`${name}: ${err.message}${err.cause ? ` (${(err.cause as Error).message})` : ''}\n`);
        process.exit(1);
      },
    );
}

/** What a verdict step prints as its last stdout line (modules/types.ts Command.verdict). */
export interface Verdict {
  reason: string;
  failed?: boolean;
  result?: Record<string, unknown>;
}

/** Prints a step's verdict as its last stdout line (Command.verdict): the task's reason, failure and result. Exit code 0: the step ran. */
export function printVerdict(v: Verdict): number {
  process.stdout.write(`${JSON.stringify(v)}\n`);
  return 0;
}
