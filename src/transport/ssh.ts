import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { NodeSSH } from 'node-ssh';
import { isSecret, type Secret } from '../secret.js';
import { buildCommandLine, quoteArgv } from '../util/shell.js';
import { ExecTimeoutError, HostKeyError, PutError, TransportError } from './errors.js';
import { algorithmsFor, appendKnownHost, checkHostKey, readKnownHosts } from './known-hosts.js';
import { putArgv } from './put-script.js';
import { RemoteShell, type ShellChannel } from './ssh-shell.js';
import type { ExecRequest, ExecResult, PutOptions, Transport } from './types.js';

export interface SshOptions {
  /** Display name (the inventory node name); defaults to host. */
  name?: string;
  host: string;
  port?: number;
  user: string;
  /** Private key file; when absent, the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exists. */
  identityFile?: string;
  knownHostsFile: string;
  /** Append the key of a host not yet in known_hosts. A changed key is always refused. */
  acceptNew?: boolean;
  /** Bound on TCP connect + handshake + auth. Default 10 s. */
  connectTimeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** Grace after the remote `timeout` should have fired before the channel is torn down locally. */
const LOCAL_GRACE_MS = 5_000;

function findDefaultIdentity(): string | undefined {
  return ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((n) => join(homedir(), '.ssh', n)).find((p) => existsSync(p));
}

/** Opens the one connection a host gets for the run. */
export function connectSsh(opts: SshOptions): Promise<SshTransport> {
  return SshTransport.connect(opts);
}

interface Channel {
  on(ev: 'data', cb: (b: Buffer) => void): void;
  on(ev: 'close', cb: (code: number | null, signal?: string) => void): void;
  on(ev: 'error', cb: (e: Error) => void): void;
  stderr: { on(ev: 'data', cb: (b: Buffer) => void): void };
  end(data?: Buffer): void;
  close(): void;
}

interface RawResult {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** Whether the connection's shell may run a request: it has no stdin of its own to give a command. */
function canUseShell(stdin: Buffer | undefined, viaShell: boolean): boolean {
  return viaShell && stdin === undefined;
}

/**
 * One SSH connection per host, reused for every exec of the run. Key auth
 * only; the host key is checked against known_hosts before anything is sent.
 * Commands are strings built by util/shell.ts; the remote side enforces each
 * timeout with coreutils `timeout` (so the remote process group dies), and
 * the channel is torn down locally as a backstop.
 */
export class SshTransport implements Transport {
  readonly host: string;
  private constructor(
    private readonly ssh: NodeSSH,
    private readonly opts: SshOptions,
  ) {
    this.host = opts.name ?? opts.host;
  }

  static async connect(opts: SshOptions): Promise<SshTransport> {
    const port = opts.port ?? 22;
    const name = opts.name ?? opts.host;
    const entries = readKnownHosts(opts.knownHostsFile);
    let refusal: HostKeyError | undefined;
    const hostVerifier = (key: Buffer): boolean => {
      const v = checkHostKey(entries, opts.host, port, key);
      if (v.ok) return true;
      if (v.kind === 'unknown' && opts.acceptNew) {
        appendKnownHost(opts.knownHostsFile, opts.host, port, key);
        return true;
      }
      refusal = new HostKeyError(name, opts.host, port, opts.knownHostsFile, v.kind, v.detail);
      return false;
    };
    // Ask for the key types we already know for this host, so a host that has
    // several keys presents the one we can compare.
    const known = entries.filter((e) => !e.marker && checkHostKey([e], opts.host, port, e.key).ok).map((e) => e.keyType);
    const identityFile = opts.identityFile ?? findDefaultIdentity();
    if (!identityFile) throw new TransportError(name, 'no identity_file for this node and none of ~/.ssh/id_ed25519, id_ecdsa, id_rsa exists');
    let privateKey: string;
    try {
      privateKey = readFileSync(identityFile, 'utf8');
    } catch (e) {
      throw new TransportError(name, `cannot read identity file ${identityFile}`, { cause: e });
    }
    const ssh = new NodeSSH();
    try {
      await ssh.connect({
        host: opts.host,
        port,
        username: opts.user,
        privateKey,
        readyTimeout: opts.connectTimeoutMs ?? 10_000,
        keepaliveInterval: 5_000,
        keepaliveCountMax: 3,
        hostVerifier,
        ...(known.length ? { algorithms: { serverHostKey: algorithmsFor(known) } } : {}),
      } as Parameters<NodeSSH['connect']>[0]);
    } catch (e) {
      ssh.dispose();
      if (refusal) throw refusal;
      throw new TransportError(name, `cannot connect to ${opts.user}@${opts.host} port ${port}: ${(e as Error).message}`, { cause: e });
    }
    return new SshTransport(ssh, opts);
  }

  private shell: RemoteShell | undefined;
  private shellOpening: Promise<RemoteShell> | undefined;

  /** The connection's long-lived shell, opened on first use and again after it died. */
  private getShell(): Promise<RemoteShell> {
    if (this.shell && !this.shell.dead) return Promise.resolve(this.shell);
    const conn = this.ssh.connection;
    if (!conn) return Promise.reject(new TransportError(this.host, 'not connected'));
    this.shellOpening ??= new Promise<RemoteShell>((resolve, reject) => {
      conn.exec('exec sh', (err: Error | undefined, ch: ShellChannel) => {
        this.shellOpening = undefined;
        if (err) return reject(new TransportError(this.host, `cannot open a shell: ${err.message}`, { cause: err }));
        this.shell = new RemoteShell(ch, this.host);
        resolve(this.shell);
      });
    });
    return this.shellOpening;
  }

  private get isRoot(): boolean {
    return this.opts.user === 'root';
  }

  private execRaw(line: string, stdin: Buffer | undefined, localTimeoutMs: number, argv: string[]): Promise<RawResult> {
    const conn = this.ssh.connection;
    if (!conn) return Promise.reject(new TransportError(this.host, 'not connected'));
    return new Promise<RawResult>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      conn.exec(line, (err: Error | undefined, ch: Channel) => {
        if (err) return reject(new TransportError(this.host, `exec failed: ${err.message}`, { cause: err }));
        const out: Buffer[] = [];
        const errb: Buffer[] = [];
        timer = setTimeout(() => {
          ch.close();
          reject(new ExecTimeoutError(this.host, argv, localTimeoutMs - LOCAL_GRACE_MS));
        }, localTimeoutMs);
        ch.on('data', (b) => out.push(b));
        ch.stderr.on('data', (b) => errb.push(b));
        ch.on('error', (e) => reject(new TransportError(this.host, `channel error: ${e.message}`, { cause: e })));
        ch.on('close', (code) => {
          clearTimeout(timer);
          // No exit status (killed by a signal or the connection dropped): report like a shell, 128+9.
          resolve({ code: code ?? 137, stdout: Buffer.concat(out), stderr: Buffer.concat(errb) });
        });
        ch.end(stdin && stdin.length ? stdin : undefined);
      });
    });
  }

  private async run(req: ExecRequest, viaShell = true): Promise<RawResult> {
    const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
    const sudo = req.sudo && !this.isRoot;
    const argv = ['timeout', '--kill-after=2', `${secs}s`, ...(sudo ? ['sudo', '-n', '--'] : []), ...req.argv];
    const line = buildCommandLine(argv, { cwd: req.cwd });
    const stdin = req.stdin === undefined ? undefined : isSecret(req.stdin) ? req.stdin.reveal() : Buffer.from(req.stdin);
    const started = Date.now();
    const bound = secs * 1000 + LOCAL_GRACE_MS;
    const r = canUseShell(stdin, viaShell)
      ? await (await this.getShell()).run(line, bound, req.argv)
      : await this.execRaw(line, stdin, bound, req.argv);
    if ((r.code === 124 || r.code === 137) && Date.now() - started >= secs * 1000 - 50) {
      throw new ExecTimeoutError(this.host, req.argv, timeoutMs);
    }
    return r;
  }

  async exec(req: ExecRequest): Promise<ExecResult> {
    if (!req.argv.length) throw new TransportError(this.host, 'exec of an empty argv');
    const r = await this.run(req);
    return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  }

  async put(path: string, content: Buffer | Secret, opts: PutOptions = {}): Promise<void> {
    const r = await this.run({ argv: putArgv(path, opts), stdin: content, sudo: opts.sudo, timeoutMs: 120_000 });
    if (r.code !== 0) throw new PutError(this.host, `put ${path} failed (rc=${r.code}): ${r.stderr.toString().trim()}`);
  }

  async get(path: string, opts: { sudo?: boolean } = {}): Promise<Buffer | null> {
    const argv = ['sh', '-c', 'if [ -e "$1" ]; then exec cat -- "$1"; else exit 3; fi', 'unibus-get', path];
    // Its own channel: file content (possibly a key) never lands in the shell's temp files.
    const r = await this.run({ argv, sudo: opts.sudo, timeoutMs: 120_000 }, false);
    if (r.code === 3) return null;
    if (r.code !== 0) throw new TransportError(this.host, `get ${path} failed (rc=${r.code}): ${r.stderr.toString().trim()}`);
    return r.stdout;
  }

  async close(): Promise<void> {
    this.shell?.close();
    this.ssh.dispose();
  }

  /** For logs: how a request reaches the host (no stdin content). */
  describe(req: ExecRequest): string {
    return `${this.opts.user}@${this.opts.host}: ${quoteArgv(req.argv)}`;
  }
}
