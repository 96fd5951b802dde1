// A message block damaged on disk as the chaos play's minority corruption
// does it (src/modules/cluster/corrupt.ts): cut to half its size, or 8 bytes
// inverted at flipOffsets(size, 7). For tests and benches that damage a stopped
// server's copy by hand.
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { flipOffsets } from '../../src/modules/cluster/corrupt.js';

/** Damages `file` (`truncate` or `bitflip`); returns its size before. */
export function damageBlock(file: string, how: 'truncate' | 'bitflip'): number {
  const size = statSync(file).size;
  if (how === 'truncate') truncateSync(file, Math.floor(size / 2));
  else {
    const b = readFileSync(file);
    for (const o of flipOffsets(size, 7)) b[o] = b[o]! ^ 0xff;
    writeFileSync(file, b);
  }
  return size;
}
