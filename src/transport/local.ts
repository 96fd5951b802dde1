import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isSecret, type Secret } from '../secret.js';
import { quoteArg } from '../util/shell.js';
import { ExecTimeoutError, PutError, TransportError } from './errors.js';
import { getArgv, putArgv } from './put-script.js';
import type { ExecRequest, ExecResult, PutOptions, Transport } from './types.js';

const DEFAULT_TIMEOUT_MS = 60_000;

function toBuffer(v: string | Buffer | Secret | undefined): Buffer {
  if (v === undefined) return Buffer.alloc(0);
  if (isSecret(v)) return v.reveal();
  return Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8');
}

// zx loads on the first local command, not with every `unibus` start (an
// SSH-only play may never need it).
let zx: Promise<typeof import('zx')> | undefined;

/**
 * Runs on the machine unibus runs on (connection: local, delegate_to:
 * controller), through zx. argv is turned into a command line only by
 * util/shell.ts's quoting, and the shell `exec`s it so the child's pid is the
 * command's own. The child leads its own process group: a timeout kills the
 * whole group it started.
 */
export class LocalTransport implements Transport {
  private readonly isRoot = process.getuid?.() === 0;

  constructor(readonly host = 'controller') {}

  async exec(req: ExecRequest): Promise<ExecResult> {
    const argv = req.sudo && !this.isRoot ? ['sudo', '-n', '--', ...req.argv] : req.argv;
    if (!argv.length) throw new TransportError(this.host, 'exec of an empty argv');
    const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { $ } = await (zx ??= import('zx'));
    const p = $({
      cwd: req.cwd,
      input: toBuffer(req.stdin),
      quiet: true,
      verbose: false,
      nothrow: true,
      detached: true,
      shell: '/bin/sh',
      prefix: 'exec ',
      postfix: '',
      quote: quoteArg,
    })`${argv}`;
    // A command that exits without reading its stdin makes the write fail
    // with EPIPE; that is the command's choice, not a transport error.
    p.child?.stdin?.on('error', () => undefined);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (p.pid) process.kill(-p.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    }, timeoutMs);
    try {
      const out = await p;
      if (timedOut) throw new ExecTimeoutError(this.host, req.argv, timeoutMs);
      // A spawn failure (a missing cwd) comes back as a negative errno or no code at all.
      if ((out.exitCode === null && out.signal === null) || (out.exitCode ?? 0) < 0) {
        const where = req.cwd ? ` in ${req.cwd}` : '';
        throw new TransportError(this.host, `cannot start ${req.argv[0]}${where} (${out.stderr.trim() || `errno ${-(out.exitCode ?? 0)}`})`);
      }
      return { code: out.exitCode ?? 128 + 9, stdout: out.stdout, stderr: out.stderr };
    } finally {
      clearTimeout(timer);
    }
  }

  async put(path: string, content: Buffer | Secret, opts: PutOptions = {}): Promise<void> {
    if (opts.sudo && !this.isRoot) {
      const r = await this.exec({ argv: putArgv(path, opts), stdin: content, sudo: true });
      if (r.code !== 0) throw new PutError(this.host, `put ${path} failed: ${r.stderr.trim()}`);
      return;
    }
    const dir = dirname(path);
    const tmp = join(dir, `.${basename(path)}.unibus-${randomBytes(6).toString('hex')}`);
    try {
      const old = await stat(path).catch(() => null);
      // 0600 from creation: the content may be a secret until the final mode is set.
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(toBuffer(content));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await chmod(tmp, opts.mode ?? (old ? old.mode & 0o7777 : 0o644));
      if (opts.owner || opts.group) {
        const spec = opts.owner ? (opts.group ? `${opts.owner}:${opts.group}` : opts.owner) : `:${opts.group}`;
        const r = await this.exec({ argv: ['chown', '--', spec, tmp] });
        if (r.code !== 0) throw new Error(`chown ${spec}: ${r.stderr.trim()}`);
      }
      await rename(tmp, path);
      const dh = await open(dir, 'r');
      await dh.sync().finally(() => dh.close());
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw new PutError(this.host, `put ${path} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  async get(path: string, opts: { sudo?: boolean } = {}): Promise<Buffer | null> {
    if (opts.sudo && !this.isRoot) {
      const r = await this.exec({ argv: getArgv(path), sudo: true });
      if (r.code === 3) return null;
      if (r.code !== 0) throw new TransportError(this.host, `get ${path} failed: ${r.stderr.trim()}`);
      return Buffer.from(r.stdout.trim(), 'base64');
    }
    try {
      return await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new TransportError(this.host, `get ${path} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  async close(): Promise<void> {}
}
