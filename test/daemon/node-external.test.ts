// --nats-url: membershipd on an external nats-server it does not supervise
// (a real one on 127.0.0.36): it connects with its internal identity from
// --internal-id-file, serves /healthz and the API, starts no child, and
// leaves the external server running when it stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { freePort } from '../harness/ports.js';
import { makeInternal } from '../harness/control-plane.js';
import { childPid, killAllDaemons, spawnDaemon, stopDaemon, waitHealth } from '../harness/membershipd.js';

const HOST = '127.0.0.36';

test('--nats-url: an external nats-server, no child, healthz 200, the server outlives the daemon', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-ext-'));
  const id = makeInternal();
  let servers: TestNatsServer[] = [];
  t.after(async () => {
    await killAllDaemons();
    await stopServers(servers);
    await rm(dir, { recursive: true, force: true });
  });
  servers = await makeServers({ hosts: [HOST], internalNkey: id.publicKey });
  await startServers(servers);
  const idFile = join(dir, 'id', 'internal.nk');
  await mkdir(join(dir, 'id'), { mode: 0o700 });
  await writeFile(idFile, new TextDecoder().decode(id.seed) + '\n', { mode: 0o600 });
  const http = await freePort(HOST);
  const stateDir = join(dir, 'state');
  const d = spawnDaemon(['--bind', HOST, '--http-port', String(http), '--nats-url', `nats://${servers[0]!.url.replace(/^nats:\/\//, '')}`, '--internal-id-file', idFile, '--server-name', 'ext'], {
    stateDir,
    http: `http://${HOST}:${http}`,
  });
  const body = await waitHealth(d, 200, 60_000);
  assert.equal(body.status, 'ok');
  assert.equal(childPid(d), undefined, 'no nats-server child');
  assert.ok(!existsSync(join(stateDir, 'nats.conf')), 'no config rendered for a server it does not run');
  assert.match(d.output(), /listening: http 127\.0\.0\.36:\d+, nats nats:\/\/127\.0\.0\.36:\d+/);
  const exit = await stopDaemon(d, 30_000);
  assert.equal(exit.code, 0, d.output());
  // The external server still serves: a new daemon on it becomes healthy again.
  const d2 = spawnDaemon(['--bind', HOST, '--http-port', String(http), '--nats-url', servers[0]!.url, '--internal-id-file', idFile, '--server-name', 'ext'], {
    stateDir,
    http: `http://${HOST}:${http}`,
  });
  assert.equal((await waitHealth(d2, 200, 60_000)).status, 'ok');
});

test('--nats-url with an identity the server does not allow: no healthz 200, a clear error, exit non-zero', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-ext-'));
  let servers: TestNatsServer[] = [];
  t.after(async () => {
    await killAllDaemons();
    await stopServers(servers);
    await rm(dir, { recursive: true, force: true });
  });
  servers = await makeServers({ hosts: [HOST], internalNkey: makeInternal().publicKey });
  await startServers(servers);
  const http = await freePort(HOST);
  const d = spawnDaemon(['--bind', HOST, '--http-port', String(http), '--nats-url', servers[0]!.url, '--server-name', 'ext'], {
    stateDir: join(dir, 'state'),
    http: `http://${HOST}:${http}`,
  });
  const r = await Promise.race([d.exited, new Promise<null>((res) => setTimeout(() => res(null), 30_000))]);
  assert.ok(r, 'exits within 30 s');
  assert.notEqual(r.code, 0);
  assert.match(d.output(), /cannot connect to .* with the internal identity/);
});
