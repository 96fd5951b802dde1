// bench/daemon-cpu.ts serves the real /v1 routes from a stand-in store: when
// the handlers start to need more of the store than it offers, every request
// is refused and the bench ends at its first measurement. A few requests per
// phase show it still serves; no figure it prints is judged here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

test('bench/daemon-cpu.ts serves signed uploads from its stand-in store, paced and back to back', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'daemon-cpu.ts'), '40'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, ROUNDS: '1', WARMUP: '40', RATE: '2000', CONCURRENCY: '4' },
  });
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}\n${r.stdout}\n${r.stderr}`);
  const rounds = r.stdout.split('\n').filter((l) => /round 1: [\d.]+ req\/s, CPU per request [\d.]+ ms, p50 [\d.]+ ms/.test(l));
  assert.equal(rounds.length, 2, `one paced and one unpaced round expected:\n${r.stdout}`);
});
