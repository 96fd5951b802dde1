// membershipd's clock. In production it is the machine's; a test-only
// setting (MEMBERSHIPD_TEST_CLOCK_OFFSET_MS, integer ms, may be negative)
// shifts what membershipd reads, so that a test or the chaos play can give
// one node a wrong clock (clocks are not namespaced: a host cannot have its
// own time, and nats-server's clock stays right). The offset is logged at
// start and shown on /healthz's posture.
export const TEST_CLOCK_OFFSET_ENV = 'MEMBERSHIPD_TEST_CLOCK_OFFSET_MS';

/** The offset the environment sets (0 when unset); a value that is not an integer is an error. */
export function testClockOffset(env: NodeJS.ProcessEnv): number {
  const v = env[TEST_CLOCK_OFFSET_ENV];
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${TEST_CLOCK_OFFSET_ENV}: expected an integer number of milliseconds, got ${JSON.stringify(v)}`);
  return n;
}

/** The clock membershipd reads: the machine's, shifted by the test-only offset. */
export function clockWithOffset(offsetMs: number): () => number {
  return offsetMs === 0 ? Date.now : () => Date.now() + offsetMs;
}
