// The `process` service manager on a host without systemd: connection local in
// a temp folder. Start, no-op re-run, restart through the handler, stop.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { outcomes, play } from '../harness/play.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-proc-'));
const inv = join(dir, 'inventory.yaml');
const pb = new URL('./fixtures-runner/playbooks/process.yaml', import.meta.url).pathname;
writeFileSync(
  inv,
  `cluster:\n  name: proc\n  state_dir: ${dir}/state\ndefaults:\n  connection: local\n  service_manager: process\nnodes:\n  - name: p1\n    public_ip: 127.0.0.31\n`,
);
const pidfile = join(dir, 'p', 'p1', 'demo.pid');
const pidOf = () => Number(readFileSync(pidfile, 'utf8').trim());
// A zombie (exited, not yet reaped by whoever adopted it) counts as stopped.
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

after(() => {
  // The service's process is ours (started by the test's run): stop it by its pid if a step failed.
  if (existsSync(pidfile) && alive(pidOf())) process.kill(pidOf(), 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const base = [pb, '-i', inv, '--json', '-e', `proc_dir=${dir}/p`];

test('a process-managed service starts, stays up on a no-op run, restarts once on a change, stops', { timeout: 120_000 }, async () => {
  const check = await play([...base, '--check']);
  assert.equal(check.code, 0, `exit ${check.code}\n${check.stderr}\n${check.stdout}`);
  const first = await play(base);
  assert.equal(first.code, 0, `exit ${first.code} ${first.signal}\n${first.stderr}\n${first.stdout}`);
  assert.deepEqual(outcomes(check), outcomes(first), 'check predicted the run');
  const pid1 = pidOf();
  assert.ok(alive(pid1), 'the service runs');

  const second = await play(base);
  assert.equal(second.code, 0);
  assert.equal(second.recap!.p1!.changed, 0, 'no-op re-run');
  assert.equal(pidOf(), pid1, 'not restarted');

  const changed = await play([...base, '-e', 'greeting=changed']);
  assert.equal(changed.code, 0, changed.stderr);
  assert.equal(changed.results.filter((r) => r.handler && r.task === 'restart demo').length, 1);
  const pid2 = pidOf();
  assert.notEqual(pid2, pid1, 'restarted through the handler');
  assert.ok(!alive(pid1), 'the old process is gone');
  assert.ok(alive(pid2), 'the new one runs');

  const stopped = await play([...base, '-e', 'greeting=changed', '-e', 'proc_state=stopped']);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.ok(!alive(pid2), 'stopped');
});
