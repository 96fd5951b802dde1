// membershipd's clock. In production it is the machine's; two test-only
// settings shift what membershipd reads, so that a test or the chaos play can
// give one node a wrong clock (clocks are not namespaced: a host cannot have
// its own time, and nats-server's clock stays right):
// - MEMBERSHIPD_TEST_CLOCK_OFFSET_MS (integer ms, may be negative), for the
//   process's life;
// - the file test-clock.json in the state folder, {"offset_ms", "until_ms"}
//   (epoch ms), looked at every CLOCK_FILE_POLL_MS and obeyed until
//   `until_ms`, at most CLOCK_FILE_MAX_HOLD_MS from when it was read: the
//   chaos play's skew fault, which so heals itself on the node whatever
//   becomes of the run, with no restart either way.
// Every shift is logged when it starts and ends.
import { readFile } from 'node:fs/promises';
export const TEST_CLOCK_OFFSET_ENV = 'MEMBERSHIPD_TEST_CLOCK_OFFSET_MS';

/** The offset the environment sets (0 when unset); a value that is not an integer is an error. */
export function testClockOffset(env: NodeJS.ProcessEnv): number {
  const v = env[TEST_CLOCK_OFFSET_ENV];
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${TEST_CLOCK_OFFSET_ENV}: expected an integer number of milliseconds, got ${JSON.stringify(v)}`);
  return n;
}

/** The chaos play's skew fault: a shift that ends on its own (see above). */
export const TEST_CLOCK_FILE = 'test-clock.json';
export const CLOCK_FILE_POLL_MS = 500;
export const CLOCK_FILE_MAX_HOLD_MS = 15 * 60_000;
/** The largest shift the file may ask for. */
export const CLOCK_FILE_MAX_OFFSET_MS = 24 * 3600_000;

export interface ClockShift {
  offsetMs: number;
  untilMs: number;
}

/** Pure: the shift a test-clock file's text asks for, read at `readAt` (machine ms); an error names what is wrong. */
export function parseClockShift(text: string, readAt: number): ClockShift {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('not JSON');
  }
  const o = v as { offset_ms?: unknown; until_ms?: unknown };
  if (!o || typeof o !== 'object' || !Number.isSafeInteger(o.offset_ms) || Math.abs(o.offset_ms as number) > CLOCK_FILE_MAX_OFFSET_MS) {
    throw new Error(`offset_ms: expected an integer number of milliseconds within ${CLOCK_FILE_MAX_OFFSET_MS}`);
  }
  if (!Number.isSafeInteger(o.until_ms)) throw new Error('until_ms: expected epoch milliseconds');
  return { offsetMs: o.offset_ms as number, untilMs: Math.min(o.until_ms as number, readAt + CLOCK_FILE_MAX_HOLD_MS) };
}

/**
 * membershipd's clock: the machine's, plus the environment's offset, plus a
 * test-clock file's shift while it lasts. `now` is what every part reads.
 */
export class ShiftedClock {
  #shift: ClockShift | null = null;
  #timer: NodeJS.Timeout | undefined;
  #seen = '';
  constructor(
    private readonly envOffsetMs: number,
    private readonly file: string,
    private readonly log: (line: string) => void,
    private readonly machineNow: () => number = Date.now,
  ) {}

  readonly now = (): number => {
    const t = this.machineNow();
    const s = this.#shift;
    if (s && t >= s.untilMs) {
      this.#shift = null;
      this.log(`TEST ONLY: the clock shift of ${s.offsetMs} ms (${TEST_CLOCK_FILE}) ended`);
    }
    return t + this.envOffsetMs + (this.#shift?.offsetMs ?? 0);
  };

  /** Looks at the file now and then every CLOCK_FILE_POLL_MS. */
  start(): void {
    void this.poll();
    this.#timer = setInterval(() => void this.poll(), CLOCK_FILE_POLL_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async poll(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      text = '';
    }
    if (text === this.#seen) return;
    this.#seen = text;
    if (!text) {
      if (this.#shift) this.log(`TEST ONLY: the clock shift of ${this.#shift.offsetMs} ms ended (${TEST_CLOCK_FILE} removed)`);
      this.#shift = null;
      return;
    }
    try {
      const s = parseClockShift(text, this.machineNow());
      this.#shift = s.untilMs > this.machineNow() ? s : null;
      this.log(`TEST ONLY: ${this.#shift ? `this node's clock is shifted by ${s.offsetMs} ms until ${new Date(s.untilMs).toISOString()}` : 'a clock shift already past its end is ignored'} (${this.file})`);
    } catch (e) {
      this.#shift = null;
      this.log(`TEST ONLY: ${this.file} ignored: ${(e as Error).message}`);
    }
  }
}
