// Fact reads issued together travel together. With plans made ahead
// (execute-lookahead.ts), the file/copy/template tasks of a stretch of the
// play all ask for the stat script in the same tick; this wrapper sends them
// as one stat of all their paths and hands each caller its own lines. Fewer
// ssh channels and host processes per no-op run, the same answers: when the
// merged read fails, each request is sent on its own as it would have been.
import { STAT_SCRIPT, statArgv } from '../modules/facts.js';
import type { Secret } from '../secret.js';
import type { ExecRequest, ExecResult, PutOptions, Transport } from '../transport/types.js';

interface Waiting {
  req: ExecRequest;
  paths: string[];
  resolve: (r: ExecResult) => void;
  reject: (e: unknown) => void;
}

function isStat(req: ExecRequest): boolean {
  return req.argv[0] === 'sh' && req.argv[2] === STAT_SCRIPT && req.stdin === undefined && req.cwd === undefined;
}

export class BatchingTransport implements Transport {
  #waiting: Waiting[] = [];

  constructor(private readonly real: Transport) {}

  get host(): string {
    return this.real.host;
  }

  exec(req: ExecRequest): Promise<ExecResult> {
    if (!isStat(req)) return this.real.exec(req);
    return new Promise((resolve, reject) => {
      if (!this.#waiting.length) setImmediate(() => void this.#flush());
      this.#waiting.push({ req, paths: req.argv.slice(4), resolve, reject });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#waiting;
    this.#waiting = [];
    if (batch.length === 1) {
      const w = batch[0]!;
      this.real.exec(w.req).then(w.resolve, w.reject);
      return;
    }
    const paths = [...new Set(batch.flatMap((w) => w.paths))];
    const sudo = batch.some((w) => w.req.sudo);
    const timeoutMs = Math.max(...batch.map((w) => w.req.timeoutMs ?? 60_000));
    let merged: ExecResult | undefined;
    try {
      merged = await this.real.exec({ argv: statArgv(paths), sudo, timeoutMs });
    } catch {
      merged = undefined;
    }
    const lines = merged?.code === 0 ? merged.stdout.split('\n').filter(Boolean) : [];
    if (!merged || lines.length !== paths.length) {
      for (const w of batch) this.real.exec(w.req).then(w.resolve, w.reject);
      return;
    }
    const byPath = new Map(paths.map((p, i) => [p, lines[i]!]));
    for (const w of batch) w.resolve({ code: 0, stdout: w.paths.map((p) => byPath.get(p)! + '\n').join(''), stderr: '' });
  }

  put(path: string, content: Buffer | Secret, opts?: PutOptions): Promise<void> {
    return this.real.put(path, content, opts);
  }

  get(path: string, opts?: { sudo?: boolean }): Promise<Buffer | null> {
    return this.real.get(path, opts);
  }

  close(): Promise<void> {
    return this.real.close();
  }
}
