// `unibus chaos report` over a run folder written as a check leaves it: the
// counts, per-family unavailability, the exit code, and its refusals.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { run, type ChaosReport } from '../../src/cli/chaos.js';
import type { CheckResult } from '../../src/controller/chaos/checker.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-chaos-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const RUN = '20261206-010203';
const prop = (violations = 0) => ({ checked: 10, violations, examples: violations ? ['lost: r1'] : [] });
function write(lost: number): void {
  const runDir = join(dir, 'chaos', RUN);
  mkdirSync(runDir, { recursive: true });
  const fault = (id: number, family: 'kill' | 'pause', unavailable: number | null) => ({ id, name: `${family} n${id}`, family, start: id * 1000, end: id * 1000 + 500, ops: 9, ok: 7, fail: 1, info: 1, unavailable_ms: unavailable });
  const check = {
    ops: { total: 100, ok: 90, fail: 8, info: 2, by_kind: {} },
    properties: { lost: prop(lost), stale: prop(), phantom: prop(), no_quorum: { ...prop(), refused: 3 }, replay: prop(), revocation: prop() },
    visibility: { n: 5, p50: 3, p99: 9, max: 9 },
    latency: { n: 90, p50: 20, p99: 500, max: 700 },
    faults: [fault(1, 'kill', 300), fault(2, 'kill', 500), fault(3, 'pause', null)],
  } as unknown as CheckResult;
  writeFileSync(join(runDir, 'check.json'), JSON.stringify(check));
  writeFileSync(join(runDir, 'workload.json'), JSON.stringify({ seed: 77 }));
  writeFileSync(join(runDir, 'schedule.json'), JSON.stringify({ seed: 77, mode: 'combined', faults: [{}, {}, {}], t0: 0 }));
  writeFileSync(join(dir, 'chaos', 'latest'), `${RUN}\n`);
}

async function capture(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const log = console.log;
  const error = console.error;
  let out = '';
  let err = '';
  console.log = (s: string) => void (out += s + '\n');
  console.error = (s: string) => void (err += s + '\n');
  try {
    return { code: await run(args), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('--json: counts, the seed, unavailability per family; exit 0 when nothing was violated, 2 when something was', async () => {
  write(0);
  const ok = await capture(['report', '--out', dir, '--json']);
  assert.equal(ok.code, 0, ok.err);
  const r = JSON.parse(ok.out) as ChaosReport;
  assert.deepEqual([r.run, r.seed, r.passed, r.schedule], [RUN, 77, true, { mode: 'combined', faults: 3 }]);
  assert.deepEqual(r.unavailable_ms.kill, { n: 2, p50: 300, p99: 500, max: 500 });
  assert.deepEqual(r.unavailable_ms.pause, { n: 0, p50: null, p99: null, max: null });
  write(2);
  const bad = await capture(['report', RUN, '--out', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.out, /VIOLATED \(2\)/);
  assert.match(bad.out, /^lost\s+10\s+2\s+lost: r1$/m);
  assert.match(bad.out, /unavailable ms after kill: n 2, p50 300, p99 500, max 500/);
});

test('a run that is not there, or a word that is not a run id, is refused with exit 4', async () => {
  const none = await capture(['report', '20990101-000000', '--out', dir]);
  assert.equal(none.code, 4);
  assert.match(none.err, /check\.json not found: run 20990101-000000 was not checked yet/);
  const word = await capture(['report', 'yesterday', '--out', dir]);
  assert.equal(word.code, 4);
  assert.match(word.err, /"yesterday" is not a run id/);
});
