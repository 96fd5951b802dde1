// bench/api-writes.ts drives a real 3-node membershipd cluster and, with
// BARE=1, the bare signed-write servers beside it (bench/lib/bare-server.ts).
// Benches run by hand, so nothing else notices when one stops working: a few
// requests per kind of operation show that every kind is served without an
// error and that each step after the load still runs. No figure is judged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

test('bench/api-writes.ts runs every kind of operation without an error (BARE=1, a few requests)', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'api-writes.ts'), '60', '4'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, BARE: '1', ROUNDS: '1', SLICES: '2', WARMUP: '60', NONCE_KEYS: '0', RSS_AFTER: '0' },
  });
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}\n${r.stdout}\n${r.stderr}`);
  for (const kind of ['raw kv.create', 'same store work', 'signed API writes', 'bare signed writes']) {
    const line = r.stdout.split('\n').find((l) => l.trimStart().startsWith(`${kind}:`));
    assert.ok(line, `no "${kind}" result:\n${r.stdout}`);
    assert.match(line, /errors 0 /, `${kind} had errors:\n${r.stdout}`);
  }
  assert.match(r.stdout, /^ {2}ratio bare\/raw: +\d+\.\d\d /m);
  assert.match(r.stdout, /nats-server \d+\.\d+\.\d+, R3/);
  const cuts = r.stdout.split('\n').filter((l) => /revocation cut all 3 connections in [\d.]+ \/ [\d.]+ \/ [\d.]+ ms/.test(l));
  assert.equal(cuts.length, 3, `three revocations expected:\n${r.stdout}`);
});
