// Facts are typed: each is an object that says how it is read (its argv),
// how its answer is parsed, and (for the path facts) how a planned command
// changes it, so that batching and check mode work on facts and effects,
// never on argv strings parsed back.
//
// A module reads facts through its context's FactReader; the run chooses the
// reader: straight to the host, batched (path stats of one tick in one exec),
// or check mode's (the host as the changes planned so far would leave it).
import type { ExecResult } from '../../transport/types.js';

/** A read-only question to a host, answered by one command. */
export interface Fact<Q, V> {
  readonly name: string;
  /** The question in words, for an error (default: String(q)). */
  describe?(q: Q): string;
  /** Bound of the read (default 30 s). */
  readonly timeoutMs?: number;
  /** The command that reads it (read-only on the host). */
  argv(q: Q): string[];
  /** Its answer from that command's result; null when the output is not of the fact's form. */
  parse(q: Q, r: ExecResult): V | null;
}

export interface FactReader {
  /** The fact's answer on this reader's host; a FactError when the host cannot say. */
  read<Q, V>(fact: Fact<Q, V>, q: Q, sudo?: boolean): Promise<V>;
  /** A file's content, null when it is not a readable file. */
  content(path: string, sudo?: boolean): Promise<Buffer | null>;
}

/** What a command does to paths: check mode applies it to its model of the host. */
export type PathEffect =
  | { op: 'mkdir'; paths: string[] }
  | { op: 'touch'; paths: string[] }
  | { op: 'remove'; paths: string[] }
  | { op: 'chmod'; mode: number; paths: string[] }
  | { op: 'chown'; owner?: string; group?: string; paths: string[] };
