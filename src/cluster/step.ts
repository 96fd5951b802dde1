// The frame of a controller step (a program a cluster task runs as its
// command): its input as JSON on stdin, its lines on stdout, its exit code
// from the step, and a failure as one `name: message (cause)` line on stderr.

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
