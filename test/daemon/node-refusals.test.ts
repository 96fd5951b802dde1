// Every start-time refusal, on the real membershipd process: a clear message,
// a non-zero exit, and nothing started (no config, no child, no listener).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../harness/ports.js';
import { makeCa, makeLeaf } from '../harness/certs.js';
import { killAllDaemons, runToExit } from '../harness/membershipd.js';

const HOST = '127.0.0.37';
const SECRET = 'hunter2-do-not-print';

test('start refusals', { timeout: 240_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-refuse-'));
  t.after(async () => {
    await killAllDaemons();
    await rm(dir, { recursive: true, force: true });
  });
  const passFile = join(dir, 'pass');
  await writeFile(passFile, SECRET, { mode: 0o600 });
  const ca = makeCa(join(dir, 'pki'), 'ca');
  const leaf = makeLeaf(ca, 'leaf', [HOST]);
  const routeTls = ['--route-tls-cert', leaf.cert, '--route-tls-key', leaf.key, '--route-tls-ca', ca.cert];
  let n = 0;

  async function refused(args: string[], re: RegExp, env: NodeJS.ProcessEnv = {}) {
    const stateDir = join(dir, `s${n++}`);
    const ports = ['--bind', HOST, '--http-port', String(await freePort(HOST)), '--nats-port', String(await freePort(HOST))];
    const r = await runToExit([...ports, ...args], { stateDir, env });
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /refusing to start: /);
    assert.match(r.output, re);
    assert.ok(!r.output.includes(SECRET), 'the secret was printed');
    // Nothing started: no rendered config, no child pid file.
    assert.ok(!existsSync(join(stateDir, 'nats.conf')));
    assert.ok(!existsSync(join(stateDir, 'nats-server.pid')));
  }

  await t.test('a cluster without --bus-auth enforce', () =>
    refused(['--cluster-name', 'c', '--routes', 'nats-route://127.0.0.38:6250', '--bus-auth', 'off'], /cluster needs --bus-auth enforce/));
  await t.test('a non-loopback cluster without a route secret', () =>
    refused(['--bind', '0.0.0.0', '--cluster-name', 'c', ...routeTls], /needs a route secret/));
  await t.test('a non-loopback cluster without route TLS', () =>
    refused(['--bind', '0.0.0.0', '--cluster-name', 'c', '--cluster-pass-file', passFile], /needs route TLS/));
  await t.test('partial route TLS flags', () => refused(['--route-tls-cert', leaf.cert, '--route-tls-ca', ca.cert], /all or nothing/));
  await t.test('the route secret in argv', () => refused(['--cluster-name', 'c', `--cluster-pass=${SECRET}`], /--cluster-pass is refused/));
  await t.test('the route secret as userinfo in --routes', () =>
    refused(['--cluster-name', 'c', '--routes', `nats-route://u:${SECRET}@127.0.0.38:6250`], /must not carry userinfo/));
  await t.test('a route CA equal to the client CA', () =>
    refused(['--cluster-name', 'c', ...routeTls, '--tls-cert', leaf.cert, '--tls-key', leaf.key, '--tls-ca', ca.cert], /route-tls-ca equals the client CA/));
  await t.test('--bus-auth off on a non-loopback bind', () => refused(['--bind', '0.0.0.0', '--bus-auth', 'off'], /only allowed on a loopback bind/));
  await t.test('a route secret file readable by others', async () => {
    const loose = join(dir, 'loose');
    await writeFile(loose, SECRET);
    await chmod(loose, 0o644);
    await refused(['--cluster-name', 'c', '--cluster-pass-file', loose], /too open/);
  });
  await t.test('a nats-server older than 2.10', async () => {
    // Stands in for a 2.9 binary: prints exactly what nats-server 2.9.10 prints for --version.
    const old = join(dir, 'nats-server-2.9');
    await writeFile(old, '#!/bin/sh\necho "nats-server: v2.9.10"\n', { mode: 0o755 });
    await refused(['--nats-server-bin', old], /nats-server 2\.9\.10; membershipd needs 2\.10 or newer/);
  });
  await t.test('a missing nats-server binary', () => refused(['--nats-server-bin', join(dir, 'none')], /cannot run/));
  await t.test('ports in use', async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, HOST, () => r()));
    const port = String((busy.address() as { port: number }).port);
    try {
      // The later flag wins in parseArgs, so these override the helper's own ports.
      await refused(['--http-port', port], /--http-port \d+: port in use/);
      await refused(['--nats-port', port], /--nats-port \d+: port in use/);
      await refused(['--cluster-name', 'c', '--cluster-port', port], /--cluster-port \d+: port in use/);
    } finally {
      busy.close();
    }
  });
});
