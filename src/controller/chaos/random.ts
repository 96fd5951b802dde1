// The run's seeded randomness (pure-rand's xoroshiro128+): the same seed
// gives the same schedule and the same choice of operations. Streams that
// must not shift each other (the nemesis, each workload client) are split
// off with a jump, so adding a client does not change the schedule.
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';

/** Largest seed accepted: seeds are 32-bit (pure-rand's generators take one). */
export const MAX_SEED = 0xffff_ffff;

export class Rng {
  private constructor(private readonly g: JumpableRandomGenerator) {}

  static of(seed: number): Rng {
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) throw new RangeError(`seed: expected an integer between 0 and ${MAX_SEED}, got ${seed}`);
    return new Rng(xoroshiro128plus(seed | 0));
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return uniformInt(this.g, lo, hi);
  }

  /** A number in [lo, hi). */
  real(lo: number, hi: number): number {
    return lo + uniformFloat64(this.g) * (hi - lo);
  }

  chance(p: number): boolean {
    return uniformFloat64(this.g) < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (!xs.length) throw new RangeError('pick from an empty list');
    return xs[this.int(0, xs.length - 1)]!;
  }

  /** An independent stream 2^64 draws away; this one moves on too. */
  split(): Rng {
    const g = this.g.clone();
    this.g.jump();
    return new Rng(g);
  }
}

/** A fresh seed for a run that was given none (printed and stored, so it can be replayed). */
export function newSeed(): number {
  return Math.floor(Math.random() * MAX_SEED);
}
