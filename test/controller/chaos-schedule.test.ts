import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeSchedule, NEMESIS_FAULT_NAMES, parseFaultList, type ScheduleOptions } from '../../src/controller/chaos/schedule.js';

const base: ScheduleOptions = { seed: 42, faults: NEMESIS_FAULT_NAMES, mode: 'sequential', durationS: 300, holdMinS: 1, holdMaxS: 30, gapMinS: 0, gapMaxS: 10 };

test('the same seed gives the same schedule; another seed another', () => {
  assert.deepEqual(makeSchedule(base), makeSchedule({ ...base }));
  assert.notDeepEqual(makeSchedule(base), makeSchedule({ ...base, seed: 43 }));
});

test('holds and gaps stay in their bounds; every fault named appears once before any repeats; ids are unique', () => {
  for (const seed of [1, 2, 3, 99, 4_000_000_000]) {
    for (const mode of ['sequential', 'combined'] as const) {
      const s = makeSchedule({ ...base, seed, mode, durationS: 600 });
      for (const [i, f] of s.entries()) {
        assert.ok(f.hold >= 1 && f.hold <= 30, `hold ${f.hold}`);
        assert.ok(f.gap >= 0 && f.gap <= 10, `gap ${f.gap}`);
        if (i >= NEMESIS_FAULT_NAMES.length) assert.ok(f.at < 600, 'the random ones after the named start within the duration');
      }
      assert.deepEqual(new Set(s.slice(0, NEMESIS_FAULT_NAMES.length).map((f) => f.fault)), new Set(NEMESIS_FAULT_NAMES));
      assert.equal(new Set(s.map((f) => f.id)).size, s.length);
    }
  }
});

test('every named fault comes once however short the duration; the duration bounds only the random ones after', () => {
  const named = ['kill-follower', 'restart-all', 'skew-node', 'partition-bridge'] as const;
  const s = makeSchedule({ ...base, faults: named, durationS: 5 });
  assert.deepEqual(s.map((f) => f.fault).sort(), [...named].sort());
});

test('combined faults start at their gap after the one before started, so they overlap; sequential ones after it healed', () => {
  const c = makeSchedule({ ...base, mode: 'combined', durationS: 120 });
  const q = makeSchedule({ ...base, mode: 'sequential', durationS: 120 });
  for (let i = 1; i < c.length; i++) assert.ok(Math.abs(c[i]!.at - (c[i - 1]!.at + c[i]!.gap)) < 0.11, 'combined: at = previous at + gap');
  assert.ok(c.some((f, i) => i > 0 && f.at < c[i - 1]!.at + c[i - 1]!.hold), 'some combined faults overlap');
  for (let i = 1; i < q.length; i++) assert.ok(q[i]!.at >= q[i - 1]!.at + q[i - 1]!.hold, 'sequential: after the previous hold');
  assert.ok(c.length > q.length);
});

test('the fault list takes names, families and all; an unknown name is refused naming the known ones', () => {
  assert.deepEqual(parseFaultList('kill-follower, pause-nats'), ['kill-follower', 'pause-nats']);
  assert.deepEqual(parseFaultList(['partition']), ['partition-isolate', 'partition-majority', 'partition-bridge']);
  assert.deepEqual(parseFaultList('restart'), ['restart'], 'a fault\'s own name wins over the family of that name');
  assert.deepEqual(parseFaultList('skew'), ['skew-node']);
  assert.equal(parseFaultList('all').length, NEMESIS_FAULT_NAMES.length);
  assert.throws(() => parseFaultList('kill-everything'), /unknown fault "kill-everything" \(expected all, a family .* kill-follower/);
  assert.throws(() => makeSchedule({ ...base, faults: [] }), /at least one/);
});
