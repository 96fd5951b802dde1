// Three real membershipd processes on 127.0.0.31-33, each supervising a real
// nats-server, with mutual route TLS and a route secret; plus intruders with
// a wrong password (.34) and a foreign route certificate (.36).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../harness/ports.js';
import { makeCa, makeLeaf } from '../harness/certs.js';
import { childPid, getHealth, killAllDaemons, spawnDaemon, stopDaemon, waitHealth, type Daemon } from '../harness/membershipd.js';
import { sleep } from '../../src/util/time.js';

const HOSTS = ['127.0.0.31', '127.0.0.32', '127.0.0.33'];

interface Ports { http: number; nats: number; cluster: number }

test('3-node cluster: route TLS + secret, intruders refused, lone node 503', { timeout: 400_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-cluster-'));
  t.after(async () => {
    await killAllDaemons();
    await rm(dir, { recursive: true, force: true });
  });
  const pki = join(dir, 'pki');
  const routeCa = makeCa(pki, 'route-ca');
  const clientCa = makeCa(pki, 'client-ca');
  const foreignCa = makeCa(pki, 'foreign-ca');
  const secret = `s3cret-${randomBytes(12).toString('hex')}`;
  const passFile = join(dir, 'route.pass');
  await writeFile(passFile, secret + '\n', { mode: 0o600 });
  const wrongPassFile = join(dir, 'wrong.pass');
  await writeFile(wrongPassFile, 'not-the-secret\n', { mode: 0o600 });

  const ports = new Map<string, Ports>();
  for (const h of [...HOSTS, '127.0.0.34', '127.0.0.36']) {
    ports.set(h, { http: await freePort(h), nats: await freePort(h), cluster: await freePort(h) });
  }
  const routeUrl = (h: string) => `nats-route://${h}:${ports.get(h)!.cluster}`;

  function start(h: string, name: string, peers: string[], o: { pass: string; ca?: typeof routeCa; env?: NodeJS.ProcessEnv }): Daemon {
    const p = ports.get(h)!;
    const ca = o.ca ?? routeCa;
    const route = makeLeaf(ca, `${name}-route`, [h]);
    const srv = makeLeaf(clientCa, `${name}-client`, [h], 'serverAuth');
    return spawnDaemon(
      [
        '--bind', h, '--http-port', String(p.http), '--nats-port', String(p.nats), '--cluster-port', String(p.cluster),
        '--server-name', name, '--cluster-name', 'unibus-test', '--routes', peers.map(routeUrl).join(','),
        '--cluster-pass-file', o.pass, '--kv-replicas', '3',
        '--route-tls-cert', route.cert, '--route-tls-key', route.key, '--route-tls-ca', ca.cert,
        '--tls-cert', srv.cert, '--tls-key', srv.key, '--tls-ca', clientCa.cert,
      ],
      { stateDir: join(dir, name), http: `http://${h}:${p.http}`, env: o.env },
    );
  }

  const nodes = HOSTS.map((h, i) => start(h, `n${i + 1}`, HOSTS.filter((x) => x !== h), { pass: passFile }));
  const bodies = await Promise.all(nodes.map((d) => waitHealth(d, 200, 150_000)));

  await t.test('all three healthy with route TLS, data TLS and two routes each', () => {
    for (const [i, b] of bodies.entries()) {
      assert.equal(b.status, 'ok');
      assert.equal(b.node.server_name, `n${i + 1}`);
      assert.equal(b.node.routes, 2);
      assert.ok(['n1', 'n2', 'n3'].includes(b.node.meta_leader));
      assert.deepEqual(b.posture, { bus_auth: 'enforce', acl: 'per-user', tls: true, cluster: 'unibus-test', route_tls: true, store: 'kv', kv_replicas: 3 });
    }
  });

  await t.test('the route secret is in no argv (/proc/*/cmdline) and no log', () => {
    for (const d of nodes) {
      for (const pid of [d.pid, childPid(d)!]) {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        assert.ok(cmd.length > 0);
        assert.ok(!cmd.includes(secret), `secret in cmdline of ${pid}`);
        assert.ok(!cmd.includes(encodeURIComponent(secret)));
      }
      assert.ok(!d.output().includes(secret));
    }
  });

  await t.test('a wrong route password or a foreign route certificate forms no route', async () => {
    const wrong = start('127.0.0.34', 'intruder-pass', ['127.0.0.31'], { pass: wrongPassFile });
    const foreign = start('127.0.0.36', 'intruder-cert', ['127.0.0.31'], { pass: passFile, ca: foreignCa });
    // Give the intruders several route retry rounds (nats-server retries every second).
    await sleep(6000);
    for (const d of [wrong, foreign]) {
      const h = await getHealth(d);
      assert.ok(h, `intruder ${d.http} has no /healthz: ${d.output()}`);
      assert.equal(h.status, 503);
      assert.equal(h.body.node.routes, 0);
    }
    for (const d of nodes) {
      const h = await getHealth(d);
      assert.equal(h?.body.node.routes, 2, JSON.stringify(h?.body));
    }
    await Promise.all([stopDaemon(wrong), stopDaemon(foreign)]);
  });

  await t.test('a node whose clock is 100 s behind says so on /healthz and refuses; set right, it serves again', async () => {
    const peers = HOSTS.filter((x) => x !== HOSTS[2]);
    await stopDaemon(nodes[2]!, 30_000);
    const skewed = start(HOSTS[2]!, 'n3', peers, { pass: passFile, env: { MEMBERSHIPD_TEST_CLOCK_OFFSET_MS: '-100000' } });
    const b = await waitHealth(skewed, 503, 90_000, (x) => /clock skew/.test(x.reason ?? ''));
    assert.match(b.reason, /^clock skew: this node's clock is 10\d\.\d s behind the cluster's \(median of 3 nodes; bound 10 s\)/);
    assert.match(skewed.output(), /TEST ONLY: this node's clock is shifted by -100000 ms/);
    assert.equal((await getHealth(nodes[0]!))?.status, 200, 'the others stay healthy');
    await stopDaemon(skewed, 30_000);
    nodes[2] = start(HOSTS[2]!, 'n3', peers, { pass: passFile });
    await waitHealth(nodes[2]!, 200, 90_000);
  });

  await t.test('a graceful stop hands the streams the node leads off one at a time, then the others serve on', async () => {
    // Who leads what, from each node's own nats-server monitor (its port is in the rendered nats.conf).
    const ledBy = async (i: number): Promise<string[]> => {
      const port = /http: "127\.0\.0\.1:(\d+)"/.exec(readFileSync(join(dir, `n${i + 1}`, 'nats.conf'), 'utf8'))![1];
      const jsz = (await (await fetch(`http://127.0.0.1:${port}/jsz?accounts=true&streams=true`)).json()) as { account_details?: { stream_detail?: { name: string; cluster?: { leader?: string } }[] }[] };
      return (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? []).filter((d) => d.cluster?.leader === `n${i + 1}`).map((d) => d.name);
    };
    const counts = await Promise.all(HOSTS.map((_, i) => ledBy(i)));
    const i = counts.reduce((best, c, j) => (c.length > counts[best]!.length ? j : best), 0);
    const led = counts[i]!;
    assert.ok(led.length > 0, `some node leads a stream: ${JSON.stringify(counts)}`);
    const r = await stopDaemon(nodes[i]!, 30_000);
    assert.equal(r.code, 0);
    const line = /stepped down from (.*)/.exec(nodes[i]!.output());
    assert.ok(line, `no step-down line in:\n${nodes[i]!.output()}`);
    assert.deepEqual(line[1]!.trim().split(', ').sort(), [...led].sort(), 'each stream it led, each handed off before the lame duck');
    for (const [j, d] of nodes.entries()) if (j !== i) assert.equal((await getHealth(d))?.status, 200, `n${j + 1} serves on`);
    nodes[i] = start(HOSTS[i]!, `n${i + 1}`, HOSTS.filter((x) => x !== HOSTS[i]), { pass: passFile });
    await waitHealth(nodes[i]!, 200, 90_000);
  });

  await t.test('one node of three alone answers 503', async () => {
    const [r2, r3] = await Promise.all([stopDaemon(nodes[1], 30_000), stopDaemon(nodes[2], 30_000)]);
    assert.equal(r2.code, 0);
    assert.equal(r3.code, 0);
    // Leaders step down in the peers' lame duck before their routes close:
    // the 503 that counts is the one with both peers gone.
    const b = await waitHealth(nodes[0], 503, 30_000, (x) => x.node.routes === 0);
    assert.equal(b.status, 'unavailable');
    assert.ok(b.reason.length > 0);
  });
});
