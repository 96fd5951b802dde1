import { dirname } from 'node:path';
import { isSecret, type Secret } from '../../src/secret.js';
import type { ExecRequest, ExecResult, PutOptions, Transport } from '../../src/transport/types.js';

/** One entry of the fake's in-memory filesystem. */
export interface FakeEntry {
  type: 'file' | 'directory';
  content: Buffer;
  mode: number;
  owner: string;
  group: string;
}

export type FakeCall =
  | { op: 'exec'; req: ExecRequest }
  | { op: 'put'; path: string; content: Buffer | Secret; opts: PutOptions }
  | { op: 'get'; path: string };

type Matcher = readonly string[] | ((req: ExecRequest) => boolean);
type Responder = ExecResult | ((req: ExecRequest, fake: FakeTransport) => ExecResult);

/**
 * A recording Transport for unit tests: an in-memory filesystem plus
 * scripted exec responses (first matching rule wins; a rule matches an argv
 * prefix or a predicate). Every exec/put/get is recorded in order. An exec
 * that no rule matches answers rc 0 with empty output, so tests that care
 * about a command assert on `calls`.
 */
export class FakeTransport implements Transport {
  readonly files = new Map<string, FakeEntry>();
  readonly calls: FakeCall[] = [];
  private rules: { match: Matcher; respond: Responder }[] = [];
  closed = false;

  constructor(readonly host = 'fake') {}

  /** Adds a scripted response. Later rules take precedence over earlier ones. */
  on(match: Matcher, respond: Responder): this {
    this.rules.unshift({ match, respond });
    return this;
  }

  addFile(path: string, content: string | Buffer, opts: Partial<Omit<FakeEntry, 'type' | 'content'>> = {}): this {
    this.files.set(path, {
      type: 'file',
      content: Buffer.from(content),
      mode: opts.mode ?? 0o644,
      owner: opts.owner ?? 'root',
      group: opts.group ?? 'root',
    });
    return this;
  }

  addDir(path: string, opts: Partial<Omit<FakeEntry, 'type' | 'content'>> = {}): this {
    this.files.set(path, {
      type: 'directory',
      content: Buffer.alloc(0),
      mode: opts.mode ?? 0o755,
      owner: opts.owner ?? 'root',
      group: opts.group ?? 'root',
    });
    return this;
  }

  /** The execs recorded so far, as argv lists (for compact assertions). */
  execArgvs(): string[][] {
    return this.calls.flatMap((c) => (c.op === 'exec' ? [c.req.argv] : []));
  }

  async exec(req: ExecRequest): Promise<ExecResult> {
    if (this.closed) throw new Error(`${this.host}: transport closed`);
    this.calls.push({ op: 'exec', req });
    for (const r of this.rules) {
      const hit =
        typeof r.match === 'function'
          ? r.match(req)
          : r.match.length <= req.argv.length && r.match.every((w, i) => req.argv[i] === w);
      if (hit) return typeof r.respond === 'function' ? r.respond(req, this) : { ...r.respond };
    }
    return { code: 0, stdout: '', stderr: '' };
  }

  async put(path: string, content: Buffer | Secret, opts: PutOptions = {}): Promise<void> {
    if (this.closed) throw new Error(`${this.host}: transport closed`);
    this.calls.push({ op: 'put', path, content, opts });
    const parent = this.files.get(dirname(path));
    if (parent && parent.type !== 'directory') throw new Error(`${dirname(path)} is not a directory`);
    const old = this.files.get(path);
    this.files.set(path, {
      type: 'file',
      content: isSecret(content) ? content.reveal() : Buffer.from(content),
      mode: opts.mode ?? old?.mode ?? 0o644,
      owner: opts.owner ?? old?.owner ?? 'root',
      group: opts.group ?? old?.group ?? 'root',
    });
  }

  async get(path: string): Promise<Buffer | null> {
    this.calls.push({ op: 'get', path });
    const e = this.files.get(path);
    return e && e.type === 'file' ? Buffer.from(e.content) : null;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
