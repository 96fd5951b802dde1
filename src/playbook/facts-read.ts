// How a run reads facts (modules/facts/): path stats batched. With plans made ahead (execute-lookahead.ts), the file, copy
// and template tasks of a stretch of the play all ask for a path stat in the
// same tick; the batching reader sends them as one stat of all their paths and
// hands each caller its own answer. Fewer ssh channels and host processes per
// no-op run, the same answers: when the merged read fails, each read is sent
// on its own as it would have been.
import { PATH_STAT, type PathFacts } from '../modules/facts/paths.js';
import { DirectReader } from '../modules/facts/read.js';
import type { Fact, FactReader } from '../modules/facts/types.js';
import type { Transport } from '../transport/types.js';

interface Waiting {
  paths: readonly string[];
  sudo: boolean;
  resolve: (v: PathFacts[]) => void;
  reject: (e: unknown) => void;
}

/** A DirectReader whose path stats of one tick travel as one. */
export class BatchingReader implements FactReader {
  readonly #direct: DirectReader;
  #waiting: Waiting[] = [];

  constructor(t: Transport) {
    this.#direct = new DirectReader(t);
  }

  read<Q, V>(fact: Fact<Q, V>, q: Q, sudo?: boolean): Promise<V> {
    if ((fact as unknown) !== PATH_STAT) return this.#direct.read(fact, q, sudo);
    return new Promise<PathFacts[]>((resolve, reject) => {
      if (!this.#waiting.length) setImmediate(() => void this.#flush());
      this.#waiting.push({ paths: q as readonly string[], sudo: sudo === true, resolve, reject });
    }) as Promise<V>;
  }

  content(path: string, sudo?: boolean): Promise<Buffer | null> {
    return this.#direct.content(path, sudo);
  }

  async #flush(): Promise<void> {
    const batch = this.#waiting;
    this.#waiting = [];
    const alone = (w: Waiting) => this.#direct.read(PATH_STAT, w.paths, w.sudo).then(w.resolve, w.reject);
    if (batch.length === 1) return void alone(batch[0]!);
    const paths = [...new Set(batch.flatMap((w) => w.paths))];
    let merged: PathFacts[] | undefined;
    try {
      merged = await this.#direct.read(PATH_STAT, paths, batch.some((w) => w.sudo));
    } catch {
      merged = undefined;
    }
    if (!merged) {
      for (const w of batch) void alone(w);
      return;
    }
    const byPath = new Map(merged.map((f) => [f.path, f]));
    for (const w of batch) w.resolve(w.paths.map((p) => byPath.get(p)!));
  }
}
