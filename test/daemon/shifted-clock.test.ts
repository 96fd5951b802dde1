// The test-only clock shift a file asks for (daemon/clock.ts): obeyed until
// its end, never past CLOCK_FILE_MAX_HOLD_MS, ended early when the file goes,
// ignored (and said so) when malformed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CLOCK_FILE_MAX_HOLD_MS, parseClockShift, ShiftedClock } from '../../src/daemon/clock.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-clock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('parseClockShift: offset and end, the end capped; bad input named', () => {
  assert.deepEqual(parseClockShift('{"offset_ms": -100000, "until_ms": 5000}', 1000), { offsetMs: -100_000, untilMs: 5000 });
  assert.equal(parseClockShift('{"offset_ms": 1, "until_ms": 9e15}', 1000).untilMs, 1000 + CLOCK_FILE_MAX_HOLD_MS, 'never held past the cap');
  assert.throws(() => parseClockShift('{"offset_ms": 1.5, "until_ms": 1}', 0), /offset_ms: expected an integer/);
  assert.throws(() => parseClockShift('{"offset_ms": 1}', 0), /until_ms: expected epoch milliseconds/);
  assert.throws(() => parseClockShift('nope', 0), /not JSON/);
});

test('ShiftedClock: the env offset always; the file shift until its end or until the file goes', async () => {
  const file = join(dir, 'test-clock.json');
  let t = 1_000_000;
  const lines: string[] = [];
  const c = new ShiftedClock(7, file, (l) => lines.push(l), () => t);
  await c.poll();
  assert.equal(c.now(), t + 7, 'no file: the environment offset alone');
  writeFileSync(file, JSON.stringify({ offset_ms: -60_000, until_ms: t + 10_000 }));
  await c.poll();
  assert.equal(c.now(), t + 7 - 60_000);
  assert.match(lines.at(-1)!, /shifted by -60000 ms until/);
  t += 10_000;
  assert.equal(c.now(), t + 7, 'ended on its own at until_ms, file still there');
  assert.match(lines.at(-1)!, /ended/);
  writeFileSync(file, JSON.stringify({ offset_ms: 30_000, until_ms: t + 60_000 }));
  await c.poll();
  assert.equal(c.now(), t + 7 + 30_000);
  rmSync(file);
  await c.poll();
  assert.equal(c.now(), t + 7, 'the file removed: the shift ends at once');
  writeFileSync(file, '{"offset_ms": "soon"}');
  await c.poll();
  assert.equal(c.now(), t + 7, 'a malformed file shifts nothing');
  assert.match(lines.at(-1)!, /ignored: offset_ms: expected an integer/);
});
