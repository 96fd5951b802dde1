// Check mode's view of a host: the host as it is, plus the path changes the
// tasks planned so far would make. After each task predicted to change, its
// planned commands are recorded here (never run): uploads, and the path
// effects that commands carry (facts/paths.ts pathCommands). The path facts
// later tasks read (stat, existence, content) then come from that model, so a
// task whose facts an earlier task changes is predicted as apply will find it
// (a `creates:` of a file written before, a file written twice, a mode set on
// a file uploaded earlier). What carries no effect (package installs,
// services, arbitrary scripts) reads the real host, as before.
import { PATH_EXISTS, PATH_STAT, PathModel, type PathFacts } from '../modules/facts/paths.js';
import type { Fact, FactReader } from '../modules/facts/types.js';
import type { Command } from '../modules/types.js';
import { isSecret, type Secret } from '../secret.js';
import type { ExecRequest, ExecResult, PutOptions, Transport } from '../transport/types.js';

export class CheckModeWriteError extends Error {}

export class CheckModeReader implements FactReader {
  readonly #model: PathModel;

  constructor(private readonly inner: FactReader, user = 'root') {
    this.#model = new PathModel(user, async (path) => {
      const [f] = await inner.read(PATH_STAT, [path], true);
      const content = f!.exists && f!.type === 'file' ? await inner.content(path, true) : null;
      return { ...f!, content };
    });
  }

  async read<Q, V>(fact: Fact<Q, V>, q: Q, sudo?: boolean): Promise<V> {
    if ((fact as unknown) === PATH_STAT) return (await this.#stat(q as readonly string[], sudo)) as V;
    if ((fact as unknown) === PATH_EXISTS) {
      const known = this.#model.predictStat(q as string);
      if (known) return known.exists as V;
    }
    return this.inner.read(fact, q, sudo);
  }

  async #stat(paths: readonly string[], sudo?: boolean): Promise<PathFacts[]> {
    const predicted = paths.map((p) => this.#model.predictStat(p));
    const ask = paths.filter((_, i) => !predicted[i]);
    const fromHost = ask.length ? await this.inner.read(PATH_STAT, ask, sudo) : [];
    return predicted.map((f) => f ?? fromHost.shift()!);
  }

  async content(path: string, sudo?: boolean): Promise<Buffer | null> {
    const known = this.#model.predictContent(path);
    return known === undefined ? this.inner.content(path, sudo) : known;
  }

  /** Records a task's planned commands in the model. */
  async record(commands: readonly Command[]): Promise<void> {
    for (const c of commands) {
      if (c.kind === 'upload') {
        const content = isSecret(c.content) ? (c.content as Secret).reveal() : Buffer.from(c.content);
        await this.#model.upload(c.path, content, { mode: c.mode, owner: c.owner, group: c.group });
      } else if (c.effect) {
        await this.#model.apply(c.effect);
      }
    }
  }
}

/** The host's transport in check mode: reads pass, a write is a defect of the module that tried it. */
export class CheckModeTransport implements Transport {
  constructor(private readonly real: Transport) {}

  get host(): string {
    return this.real.host;
  }

  exec(req: ExecRequest): Promise<ExecResult> {
    return this.real.exec(req);
  }

  get(path: string, opts?: { sudo?: boolean }): Promise<Buffer | null> {
    return this.real.get(path, opts);
  }

  async put(path: string, _content: Buffer | Secret, _opts?: PutOptions): Promise<void> {
    throw new CheckModeWriteError(`${this.host}: check mode must not write ${path}`);
  }

  async close(): Promise<void> {
    // The real transport is closed by the run that opened it.
  }
}
