import { randomBytes } from 'node:crypto';
import { ExecTimeoutError, TransportError } from './errors.js';

// One long-lived `sh` per connection for commands without stdin (fact reads
// are most commands of a run). Opening an SSH session channel costs the
// server a new session every time; a shell already running costs one fork
// per command. Each command's output goes to files in a private 0700 folder
// first, then comes back framed as `MARK rc out-bytes err-bytes\n` followed by
// the bytes, so nothing a command prints can be mistaken for the framing.
// Commands with stdin (uploads, secrets) and `get` use their own channel.

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
  resolve(r: RawResult): void;
  reject(e: Error): void;
}

export class RemoteShell {
  private buf = Buffer.alloc(0);
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private errText = '';
  dead = false;
  private readonly mark = `UNIBUS-${randomBytes(8).toString('hex')}`;

  constructor(
    private readonly ch: ShellChannel,
    private readonly host: string,
  ) {
    ch.on('data', (b) => this.onData(b));
    ch.stderr.on('data', (b) => (this.errText = (this.errText + b.toString()).slice(-2000)));
    ch.on('error', (e) => this.fail(new TransportError(host, `shell channel error: ${e.message}`, { cause: e })));
    ch.on('close', () => this.fail(new TransportError(host, `remote shell ended${this.errText ? `: ${this.errText.trim()}` : ''}`)));
    ch.write(`T=$(mktemp -d "\${TMPDIR:-/tmp}/.unibus-sh.XXXXXXXX") || exit 1\ntrap 'rm -rf "$T"' EXIT\n`);
  }

  private fail(e: Error): void {
    this.dead = true;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(e);
  }

  private onData(b: Buffer): void {
    this.buf = Buffer.concat([this.buf, b]);
    if (!this.pending) return;
    const nl = this.buf.indexOf(10);
    if (nl < 0) return;
    const head = this.buf.subarray(0, nl).toString('latin1').split(' ');
    if (head[0] !== this.mark || head.length !== 4) {
      this.fail(new TransportError(this.host, `remote shell sent an unexpected frame: ${JSON.stringify(head.join(' ').slice(0, 80))}`));
      this.ch.close();
      return;
    }
    const [code, olen, elen] = head.slice(1).map(Number) as [number, number, number];
    if (this.buf.length < nl + 1 + olen + elen) return;
    const body = this.buf.subarray(nl + 1);
    const r: RawResult = { code, stdout: Buffer.from(body.subarray(0, olen)), stderr: Buffer.from(body.subarray(olen, olen + elen)) };
    this.buf = Buffer.from(body.subarray(olen + elen));
    const p = this.pending;
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
    return new Promise<RawResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        // The remote `timeout` should have fired long ago: the shell is stuck, drop it.
        this.fail(new ExecTimeoutError(this.host, argv, localTimeoutMs));
        this.ch.close();
      }, localTimeoutMs);
      this.pending = {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.ch.write(
        `( ${line}\n) </dev/null >"$T/o" 2>"$T/e"; r=$?; ` +
          `printf '%s %s %s %s\\n' ${this.mark} "$r" "$(wc -c <"$T/o")" "$(wc -c <"$T/e")"; cat "$T/o" "$T/e"\n`,
      );
    });
  }

  close(): void {
    this.dead = true;
    this.ch.end();
  }
}
