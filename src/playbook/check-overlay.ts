// Check mode's view of a host: the host as it is, plus the file changes the
// tasks planned so far would make. After each task predicted to change, its
// planned commands are applied here (never on the host); the fact reads of
// later tasks (the stat script, `test -e`, get) then see the predicted state,
// so a task whose facts an earlier task changes is predicted as apply will
// find it (a `creates:` of a file written before, a file written twice, a
// mode set on a file uploaded earlier). What is not modelled (package
// installs, services, arbitrary scripts) reads the real host, as before.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { Command } from '../modules/types.js';
import { STAT_SCRIPT, statArgv } from '../modules/facts.js';
import { isSecret, type Secret } from '../secret.js';
import type { ExecRequest, ExecResult, PutOptions, Transport } from '../transport/types.js';

interface Entry {
  type: 'file' | 'directory' | 'absent';
  content?: Buffer;
  mode: number;
  owner: string;
  group: string;
}

export class CheckModeWriteError extends Error {}

export class CheckOverlay implements Transport {
  readonly #state = new Map<string, Entry>();

  constructor(private readonly real: Transport, private readonly user = 'root') {}

  get host(): string {
    return this.real.host;
  }

  /** The entry for path, or undefined when the real host answers (also under a planned rm -rf). */
  #lookup(path: string): Entry | undefined {
    const p = posix.normalize(path);
    const own = this.#state.get(p);
    if (own) return own;
    for (let d = posix.dirname(p); d !== '/' && d !== '.'; d = posix.dirname(d)) {
      if (this.#state.get(d)?.type === 'absent') return { type: 'absent', mode: 0, owner: '', group: '' };
    }
    return undefined;
  }

  async #current(path: string): Promise<Entry> {
    const known = this.#lookup(path);
    if (known) return known;
    const r = await this.real.exec({ argv: statArgv([path]), sudo: true, timeoutMs: 30_000 });
    const f = r.stdout.trim().split('|');
    if (r.code !== 0 || f[0] !== 'P') return { type: 'absent', mode: 0, owner: '', group: '' };
    const content = f[1] === 'regular file' || f[1] === 'regular empty file' ? await this.real.get(path, { sudo: true }) : null;
    return { type: content ? 'file' : 'directory', content: content ?? undefined, mode: parseInt(f[2]!, 8), owner: f[3]!, group: f[4]! };
  }

  /** Applies a task's planned commands to the predicted state. */
  async record(commands: readonly Command[]): Promise<void> {
    for (const c of commands) {
      if (c.kind === 'upload') {
        const old = await this.#current(c.path);
        const content = isSecret(c.content) ? (c.content as Secret).reveal() : Buffer.from(c.content);
        this.#state.set(posix.normalize(c.path), {
          type: 'file', content,
          mode: c.mode ?? (old.type === 'file' ? old.mode : 0o644),
          owner: c.owner ?? (old.type === 'file' ? old.owner : this.user),
          group: c.group ?? (old.type === 'file' ? old.group : this.user),
        });
        continue;
      }
      const [cmd, ...rest] = c.argv;
      const paths = rest.slice(rest.indexOf('--') + 1);
      if (!rest.includes('--')) continue; // only the modules' own argv forms are modelled
      if (cmd === 'mkdir') {
        for (const p of paths) {
          for (let d = posix.normalize(p); d !== '/' && d !== '.'; d = posix.dirname(d)) {
            if ((await this.#current(d)).type !== 'absent') break;
            this.#state.set(d, { type: 'directory', mode: 0o755, owner: this.user, group: this.user });
          }
        }
      } else if (cmd === 'touch') {
        for (const p of paths) {
          const old = await this.#current(p);
          if (old.type === 'absent') this.#state.set(posix.normalize(p), { type: 'file', content: Buffer.alloc(0), mode: 0o644, owner: this.user, group: this.user });
        }
      } else if (cmd === 'rm') {
        for (const p of paths) {
          const n = posix.normalize(p);
          for (const k of [...this.#state.keys()]) if (k.startsWith(n + '/')) this.#state.delete(k);
          this.#state.set(n, { type: 'absent', mode: 0, owner: '', group: '' });
        }
      } else if (cmd === 'chmod' || cmd === 'chown') {
        const spec = rest[0]!;
        for (const p of paths) {
          const old = await this.#current(p);
          if (old.type === 'absent') continue;
          const next = { ...old };
          if (cmd === 'chmod') next.mode = parseInt(spec, 8);
          else {
            const [o, g] = spec.split(':');
            if (o) next.owner = o;
            if (g) next.group = g;
          }
          this.#state.set(posix.normalize(p), next);
        }
      }
    }
  }

  async exec(req: ExecRequest): Promise<ExecResult> {
    if (req.argv[0] === 'sh' && req.argv[2] === STAT_SCRIPT) {
      const paths = req.argv.slice(4);
      const real = paths.filter((p) => !this.#lookup(p));
      const fromHost = real.length ? await this.real.exec({ ...req, argv: statArgv(real) }) : { code: 0, stdout: '', stderr: '' };
      if (fromHost.code !== 0) return fromHost;
      const hostLines = fromHost.stdout.split('\n').filter(Boolean);
      const lines = paths.map((p) => {
        const e = this.#lookup(p);
        if (!e) return hostLines.shift() ?? 'A';
        if (e.type === 'absent') return 'A';
        const kind = e.type === 'file' ? (e.content!.length ? 'regular file' : 'regular empty file') : 'directory';
        const size = e.type === 'file' ? e.content!.length : 4096;
        const sha = e.type === 'file' ? createHash('sha256').update(e.content!).digest('hex') : '-';
        return `P|${kind}|${e.mode.toString(8)}|${e.owner}|${e.group}|${size}|${sha}`;
      });
      return { code: 0, stdout: lines.map((l) => l + '\n').join(''), stderr: '' };
    }
    if (req.argv[0] === 'test' && req.argv[1] === '-e' && req.argv.length === 3) {
      const e = this.#lookup(req.argv[2]!);
      if (e) return { code: e.type === 'absent' ? 1 : 0, stdout: '', stderr: '' };
    }
    return this.real.exec(req);
  }

  async get(path: string, opts?: { sudo?: boolean }): Promise<Buffer | null> {
    const e = this.#lookup(path);
    if (!e) return this.real.get(path, opts);
    return e.type === 'file' ? Buffer.from(e.content!) : null;
  }

  async put(path: string, _content: Buffer | Secret, _opts?: PutOptions): Promise<void> {
    throw new CheckModeWriteError(`${this.host}: check mode must not write ${path}`);
  }

  async close(): Promise<void> {
    // The real transport is closed by the run that opened it.
  }
}
