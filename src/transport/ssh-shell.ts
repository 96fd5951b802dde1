import { randomBytes } from 'node:crypto';
import { ExecTimeoutError, TransportError } from './errors.js';

// One long-lived `sh` per connection for commands without stdin (fact reads
// are most commands of a run). Opening an SSH session channel costs the
// server a new session every time; a shell already running costs one fork
// per command. After each command the shell prints `\n<mark> <rc>\n` on
// stdout and `\n<mark>\n` on stderr, with a fresh random mark per command:
// what comes before the mark is the command's output, byte for byte. Nothing
// is written to disk on the host. Commands with stdin (uploads, secrets) and
// `get` use a channel of their own.

export interface ShellChannel {
  on(ev: 'data', cb: (b: Buffer) => void): void;
  on(ev: 'close', cb: () => void): void;
  on(ev: 'error', cb: (e: Error) => void): void;
  stderr: { on(ev: 'data', cb: (b: Buffer) => void): void };
  write(data: string): boolean;
  end(): void;
  close(): void;
}

export interface RawResult {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

interface Pending {
  mark: string;
  resolve(r: RawResult): void;
  reject(e: Error): void;
}

export class RemoteShell {
  private out = Buffer.alloc(0);
  private err = Buffer.alloc(0);
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  dead = false;

  constructor(
    private readonly ch: ShellChannel,
    private readonly host: string,
  ) {
    ch.on('data', (b) => ((this.out = Buffer.concat([this.out, b])), this.settle()));
    ch.stderr.on('data', (b) => ((this.err = Buffer.concat([this.err, b])), this.settle()));
    ch.on('error', (e) => this.fail(new TransportError(host, `shell channel error: ${e.message}`, { cause: e })));
    ch.on('close', () => {
      const tail = this.err.toString('utf8').trim().slice(-500);
      this.fail(new TransportError(host, `remote shell ended${tail ? `: ${tail}` : ''}`));
    });
  }

  private fail(e: Error): void {
    this.dead = true;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
  }

  private settle(): void {
    const p = this.pending;
    if (!p) return;
    const outAt = this.out.indexOf(`\n${p.mark} `);
    const errAt = this.err.indexOf(`\n${p.mark}\n`);
    if (outAt < 0 || errAt < 0) return;
    const lineEnd = this.out.indexOf(10, outAt + 1);
    if (lineEnd < 0) return;
    const code = Number(this.out.subarray(outAt + p.mark.length + 2, lineEnd).toString('latin1'));
    const r: RawResult = { code, stdout: Buffer.from(this.out.subarray(0, outAt)), stderr: Buffer.from(this.err.subarray(0, errAt)) };
    this.out = Buffer.from(this.out.subarray(lineEnd + 1));
    this.err = Buffer.from(this.err.subarray(errAt + p.mark.length + 2));
    this.pending = undefined;
    p.resolve(r);
  }

  /** Runs one command line (already quoted) with stdin from /dev/null. One at a time. */
  run(line: string, localTimeoutMs: number, argv: string[]): Promise<RawResult> {
    const next = this.queue.then(() => this.runNow(line, localTimeoutMs, argv));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private runNow(line: string, localTimeoutMs: number, argv: string[]): Promise<RawResult> {
    if (this.dead) return Promise.reject(new TransportError(this.host, 'remote shell is closed'));
    const mark = `UNIBUS-${randomBytes(12).toString('hex')}`;
    // Output a previous command left behind (a stray background writer) is not this command's.
    this.out = Buffer.alloc(0);
    this.err = Buffer.alloc(0);
    return new Promise<RawResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The remote `timeout` should have fired long ago: the shell is stuck, drop it.
        this.fail(new ExecTimeoutError(this.host, argv, localTimeoutMs));
        this.ch.close();
      }, localTimeoutMs);
      this.pending = {
        mark,
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.ch.write(`( ${line}\n) </dev/null; r=$?; printf '\\n%s %s\\n' ${mark} "$r"; printf '\\n%s\\n' ${mark} >&2\n`);
    });
  }

  close(): void {
    this.dead = true;
    this.ch.end();
  }
}
