// What a replica's copy of a stream is, as read back (replicas.ts reads
// them), and how copies of one stream are compared: pure, shared by the chaos
// checker and the deep check of `play verify`.

import type { ReplicaCopy } from '../../daemon/index.js';

export type { ReplicaCopy };

export interface StreamCopies {
  stream: string;
  /** One per replica that could be read; the others are named in `unread`. */
  copies: ReplicaCopy[];
  unread: { node: string; why: string }[];
}

/** A copy as a report names it: "n2 (812 messages, last 4425, sha256 0f3a…)". */
export const describeCopy = (c: ReplicaCopy) => `${c.node} (${c.messages} messages, ${c.firstSeq === undefined ? '' : `first ${c.firstSeq}, `}last ${c.lastSeq}${c.digest ? `, sha256 ${c.digest.slice(0, 12)}` : ''})`;

/**
 * How a stream's copies differ: each copy that could not be read, and each
 * that differs from the first read in message count, last sequence and
 * digest. A stream read without a digest (the nonces) is listed, not
 * compared: its messages expire by age, each copy at its own moment, and
 * every node writes its nonce history beat to it every few seconds, so no
 * two copies are read at one point (fresh-clone runs: copies read at 4, 5
 * and 4; read again, written to in each of 3 rounds).
 */
export function diverged(s: StreamCopies): string[] {
  const out = s.unread.map((u) => `${s.stream}: ${u.node}'s copy could not be read (${u.why})`);
  const [first, ...rest] = s.copies;
  if (first?.digest === undefined) return out;
  for (const c of rest) {
    const same = c.lastSeq === first.lastSeq && c.messages === first.messages && c.digest === first.digest;
    if (!same) out.push(`${s.stream}: ${describeCopy(c)} differs from ${describeCopy(first!)}`);
  }
  return out;
}
