// A real membershipd process supervising a real nats-server on 127.0.0.35.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../harness/ports.js';
import { childPid, killAllDaemons, spawnDaemon, waitHealth } from '../harness/membershipd.js';
import { sleep } from '../../src/util/time.js';

const HOST = '127.0.0.35';

test('single node: healthz, crash recovery, SIGTERM through lame duck', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-node1-'));
  t.after(async () => {
    await killAllDaemons();
    await rm(dir, { recursive: true, force: true });
  });
  const [http, nats] = [await freePort(HOST), await freePort(HOST)];
  const d = spawnDaemon(['--bind', HOST, '--http-port', String(http), '--nats-port', String(nats), '--server-name', 'single'], {
    stateDir: join(dir, 'state'),
    http: `http://${HOST}:${http}`,
  });

  const body = await waitHealth(d, 200, 60_000);
  await t.test('serves /healthz 200 with posture and node view', () => {
    assert.equal(body.status, 'ok');
    assert.deepEqual(body.posture, { bus_auth: 'enforce', acl: 'per-user', tls: false, cluster: null, route_tls: false, store: 'kv', kv_replicas: 1 });
    assert.equal(body.node.server_name, 'single');
    assert.equal(body.node.meta_leader, 'single');
    assert.equal(body.node.jetstream, true);
  });

  await t.test('conf and identity are 0600, child argv is only -c FILE', async () => {
    assert.equal((await stat(join(dir, 'state', 'nats.conf'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'state', 'internal.nk'))).mode & 0o777, 0o600);
    const pid = childPid(d)!;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    assert.deepEqual(argv.slice(1), ['-c', join(dir, 'state', 'nats.conf')]);
  });

  await t.test('SIGHUP to membershipd validates and reloads the same child', async () => {
    const before = childPid(d)!;
    process.kill(d.pid, 'SIGHUP');
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !/nats-server reloaded/.test(d.output())) await sleep(100);
    assert.match(d.output(), /SIGHUP: config validated; nats-server reloaded/);
    assert.equal(childPid(d), before);
    assert.equal((await waitHealth(d, 200, 30_000)).status, 'ok');
  });

  await t.test('kill -9 of the child is recovered: new PID, healthy again', async () => {
    const before = childPid(d)!;
    process.kill(before, 'SIGKILL');
    const deadline = Date.now() + 30_000;
    let after: number | undefined;
    while (Date.now() < deadline) {
      after = childPid(d);
      if (after && after !== before) break;
      await sleep(200);
    }
    assert.ok(after && after !== before, `no new child after kill -9 of ${before}`);
    const again = await waitHealth(d, 200, 60_000);
    assert.equal(again.status, 'ok');
    assert.match(d.output(), /exited \(code null, signal SIGKILL\); restarting in \d+ ms/);
  });

  await t.test('SIGTERM: lame duck, child gone, exit 0', async () => {
    const child = childPid(d)!;
    d.proc.kill('SIGTERM');
    // Bounded: the test's own timeout; stopDaemon in after() cleans up if this hangs.
    const r = await d.exited;
    assert.equal(r.code, 0, d.output());
    // Checked before any cleanup could kill it: membershipd itself stopped its child.
    assert.match(d.output(), /in lame duck/);
    assert.throws(() => process.kill(child, 0), /ESRCH/);
  });
});

function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

test('a child orphaned by kill -9 of membershipd is stopped by the next start on the same state', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-node1-orphan-'));
  let orphan: number | undefined;
  t.after(async () => {
    await killAllDaemons();
    if (orphan && running(orphan)) process.kill(orphan, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  const [http, nats] = [await freePort(HOST), await freePort(HOST)];
  const args = ['--bind', HOST, '--http-port', String(http), '--nats-port', String(nats), '--server-name', 'orphan'];
  const o = { stateDir: join(dir, 'state'), http: `http://${HOST}:${http}` };
  const first = spawnDaemon(args, o);
  await waitHealth(first, 200, 60_000);
  orphan = childPid(first)!;
  first.proc.kill('SIGKILL');
  await first.exited;
  assert.ok(running(orphan), 'the child outlives a SIGKILLed membershipd');

  const second = spawnDaemon(args, o);
  assert.equal((await waitHealth(second, 200, 60_000)).status, 'ok');
  assert.match(second.output(), new RegExp(`stopping nats-server \\(pid ${orphan}\\) left running by an earlier membershipd`));
  assert.equal(running(orphan), false);
  assert.notEqual(childPid(second), orphan);
});
