// A node of a 3-node cluster started alone (its peers never come): it serves
// /healthz 503, never 200. Its route secret comes from UNIBUS_CLUSTER_PASS and
// must reach neither argv nor the child's environment, only the 0600 config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../harness/ports.js';
import { childPid, getHealth, killAllDaemons, spawnDaemon, stopDaemon, waitHealth } from '../harness/membershipd.js';
import { sleep } from '../../src/util/time.js';

const HOST = '127.0.0.39';

test('lone node of three: 503, secret from env kept out of argv and the child env', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-lone-'));
  t.after(async () => {
    await killAllDaemons();
    await rm(dir, { recursive: true, force: true });
  });
  const secret = `env-secret-${randomBytes(8).toString('hex')}`;
  // Peers on ports nobody listens on: they never come.
  const peers = [`nats-route://127.0.0.32:${await freePort('127.0.0.32')}`, `nats-route://127.0.0.33:${await freePort('127.0.0.33')}`];
  const http = await freePort(HOST);
  const d = spawnDaemon(
    ['--bind', HOST, '--http-port', String(http), '--nats-port', String(await freePort(HOST)), '--cluster-port', String(await freePort(HOST)),
      '--server-name', 'lone', '--cluster-name', 'c3', '--routes', peers.join(','), '--kv-replicas', '3'],
    { stateDir: join(dir, 's'), http: `http://${HOST}:${http}`, env: { UNIBUS_CLUSTER_PASS: secret } },
  );
  const body = await waitHealth(d, 503, 60_000);
  assert.equal(body.status, 'unavailable');
  assert.ok(body.reason);
  assert.equal(body.node.routes, 0);

  await t.test('it stays 503 (sampled for 8 s)', async () => {
    for (let i = 0; i < 8; i++) {
      const h = await getHealth(d);
      assert.equal(h?.status, 503, JSON.stringify(h?.body));
      await sleep(1000);
    }
  });

  await t.test('the secret is only in the 0600 config', async () => {
    const pid = childPid(d)!;
    assert.ok(pid);
    for (const p of [d.pid, pid]) assert.ok(!readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(secret));
    assert.ok(!readFileSync(`/proc/${pid}/environ`, 'utf8').includes(secret), 'secret in the child environment');
    const conf = join(dir, 's', 'nats.conf');
    assert.equal((await stat(conf)).mode & 0o777, 0o600);
    assert.ok((await readFile(conf, 'utf8')).includes(secret));
    assert.ok(!d.output().includes(secret));
  });

  await t.test('SIGTERM still exits 0 without quorum (bounded lame duck)', async () => {
    const r = await stopDaemon(d, 30_000);
    assert.equal(r.code, 0, d.output());
  });
});
