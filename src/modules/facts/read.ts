// The plain way to read a fact: its own command on the host, its parser on
// the answer. Runs batch and model facts on top of this (src/playbook/facts-*.ts).
import type { Transport } from '../../transport/types.js';
import { FactError } from '../errors.js';
import type { Fact, FactReader } from './types.js';

const FACT_TIMEOUT_MS = 30_000;

/** Reads each fact with its own command on the host. */
export class DirectReader implements FactReader {
  constructor(private readonly t: Transport) {}

  async read<Q, V>(fact: Fact<Q, V>, q: Q, sudo?: boolean): Promise<V> {
    const r = await this.t.exec({ argv: fact.argv(q), sudo, timeoutMs: fact.timeoutMs ?? FACT_TIMEOUT_MS });
    const v = fact.parse(q, r);
    if (v === null) throw new FactError(this.t.host, `${fact.name} ${fact.describe ? fact.describe(q) : String(q)}`, `rc=${r.code} ${r.stderr.trim() || r.stdout.trim()}`);
    return v;
  }

  content(path: string, sudo?: boolean): Promise<Buffer | null> {
    return this.t.get(path, { sudo });
  }
}
