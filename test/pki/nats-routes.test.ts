// The minted PKI in a real nats-server 2.10: routes form only with route-CA
// certificates, and clients reach the data plane only when pinned to the client CA.
import assert from 'node:assert/strict';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { ROUTE_EKU, applyPki, nodeFiles, planPki, secretFiles } from '../../src/pki/index.js';
import { fromPem, toPem } from '../../src/pki/pem.js';
import { exportPrivateKey, generateKeyPair, importPrivateKey, mintCertificate, parseCertificate } from '../../src/pki/x509.js';
import { checkConfig, startNatsServer, type NatsServer } from '../harness/nats-server.js';
import { freePort } from '../harness/ports.js';
import { makeWorkdir } from './fixture.js';
import { sleep } from '../../src/util/time.js';

const A = { name: 'a', hostname: 'a.bus.test', publicIp: '127.0.0.21' };
const B = { name: 'b', hostname: 'b.bus.test', publicIp: '127.0.0.22' };
const DAY = 86_400_000;
// What nats-server 2.10 logs when a route's TLS handshake fails, on either side.
const HANDSHAKE_REFUSED = /route handshake error: .*(certificate|tls)/i;

interface RouteCerts { cert: string; key: string; ca: string }
interface Node { ip: string; client: number; route: number; http: number }

async function allocate(ip: string): Promise<Node> {
  return { ip, client: await freePort(ip), route: await freePort(ip), http: await freePort(ip) };
}

async function writeConfig(dir: string, name: string, me: Node, peer: Node, data: ReturnType<typeof nodeFiles>, route: RouteCerts): Promise<string> {
  const file = join(dir, `${name}-${me.client}.conf`);
  await writeFile(file, `server_name: ${name}
listen: "${me.ip}:${me.client}"
http: "${me.ip}:${me.http}"
tls {
  cert_file: "${data.serverCert}"
  key_file: "${data.serverKey}"
  ca_file: "${data.clientCa}"
  timeout: 2
}
cluster {
  name: pki-test
  listen: "${me.ip}:${me.route}"
  tls {
    cert_file: "${route.cert}"
    key_file: "${route.key}"
    ca_file: "${route.ca}"
    verify: true
    timeout: 2
  }
  routes: ["nats-route://${peer.ip}:${peer.route}"]
}
`);
  checkConfig(file);
  return file;
}


async function numRoutes(s: NatsServer): Promise<number> {
  return (await s.monitor<{ num_routes: number }>('/routez')).num_routes;
}

async function waitForRoute(s: NatsServer, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while ((await numRoutes(s)) < 1) {
    if (Date.now() > end) throw new Error(`no route within ${timeoutMs} ms:\n${s.log()}`);
    await sleep(100);
  }
}

// What nats-server 2.10 opens to each peer: a pool of 3 route connections
// (cluster.pool_size's default) and one more pinned to the system account.
const ROUTES_PER_PEER = 4;

interface RoutezDetail { num_routes: number; routes?: { remote_id?: string; remote_name?: string; account?: string }[] }

/**
 * Waits, bounded, until `s`'s /routez shows every route to `peer`, then
 * asserts it: ROUTES_PER_PEER routes, each to the peer's server id, one of
 * them the system account's. Fails with both /routez and the log when the
 * route did not form.
 */
async function assertRoutedTo(s: NatsServer, peer: NatsServer, peerName: string, step: string, timeoutMs = 15_000): Promise<void> {
  const peerId = (await peer.monitor<{ server_id: string }>('/varz')).server_id;
  const formed = (r: RoutezDetail) => r.num_routes === ROUTES_PER_PEER && (r.routes ?? []).every((x) => x.remote_id === peerId);
  const end = Date.now() + timeoutMs;
  let r = await s.monitor<RoutezDetail>('/routez');
  while (!formed(r) && Date.now() < end) {
    await sleep(100);
    r = await s.monitor<RoutezDetail>('/routez');
  }
  const why = `${step}: /routez ${JSON.stringify(r)}\n${s.log()}`;
  assert.equal(r.num_routes, ROUTES_PER_PEER, why);
  const routes = r.routes ?? [];
  assert.deepEqual(routes.map((x) => [x.remote_name, x.remote_id]), Array.from({ length: ROUTES_PER_PEER }, () => [peerName, peerId]), why);
  assert.equal(routes.filter((x) => x.account === '$SYS').length, 1, why);
}

describe('minted PKI in a real nats-server', () => {
  let w: Awaited<ReturnType<typeof makeWorkdir>>;
  const servers: NatsServer[] = [];
  let fa: ReturnType<typeof nodeFiles>;
  let fb: ReturnType<typeof nodeFiles>;
  const own = (f: ReturnType<typeof nodeFiles>): RouteCerts => ({ cert: f.routeCert, key: f.routeKey, ca: f.routeCaBundle });

  before(async () => {
    w = await makeWorkdir();
    await applyPki(await planPki(w.opts({ nodes: [A, B] })));
    fa = nodeFiles(w.opts().outDir, 'a');
    fb = nodeFiles(w.opts().outDir, 'b');
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await w.cleanup();
  });

  async function startPair(routeB: RouteCerts): Promise<[NatsServer, NatsServer, Node, () => Promise<NatsServer>]> {
    const [na, nb] = [await allocate(A.publicIp), await allocate(B.publicIp)];
    const ca = await writeConfig(w.dir, 'a', na, nb, fa, own(fa));
    const cb = await writeConfig(w.dir, 'b', nb, na, fb, routeB);
    const startA = async () => {
      const s = await startNatsServer({ configFile: ca, monitorUrl: `http://${na.ip}:${na.http}` });
      servers.push(s);
      return s;
    };
    const sa = await startA();
    const sb = await startNatsServer({ configFile: cb, monitorUrl: `http://${nb.ip}:${nb.http}` });
    servers.push(sb);
    return [sa, sb, na, startA];
  }

  async function stopPair(...s: NatsServer[]) {
    await Promise.all(s.map((x) => x.stop()));
  }

  it('two nodes form a mutual-TLS route with the minted route certificates, and clients pin the client CA', async () => {
    const [sa, sb, na] = await startPair(own(fb));
    try {
      await waitForRoute(sa);
      await waitForRoute(sb);
      const routez = await sa.monitor<{ routes: { remote_name?: string }[] }>('/routez');
      assert.equal(routez.routes[0]?.remote_name, 'b');

      // nats.js upgrades its plain socket with servername '' for an IP, and
      // Node then checks the name 'localhost': passing `host` makes Node check
      // the IP SAN the certificate really carries.
      const pin = async (ca: string) => ({ ca: await readFile(ca, 'utf8'), host: na.ip }) as { ca: string };
      const nc = await connect({ servers: `tls://${na.ip}:${na.client}`, tls: await pin(fa.clientCa), timeout: 5_000, reconnect: false });
      await nc.flush();
      assert.equal(nc.info?.server_name, 'a');
      await nc.close();
      await assert.rejects(
        connect({ servers: `tls://${na.ip}:${na.client}`, tls: await pin(fa.routeCaBundle), timeout: 5_000, reconnect: false }),
        /certificate/i,
      );
    } finally {
      await stopPair(sa, sb);
    }
  });

  it('refuses a route certificate signed by the client CA', async () => {
    const s = secretFiles(w.opts().secretsDir);
    const issuer = {
      cert: parseCertificate(fromPem('CERTIFICATE', await readFile(s.clientCaCert, 'utf8'))),
      privateKey: await importPrivateKey(fromPem('PRIVATE KEY', await readFile(s.clientCaKey, 'utf8'))),
    };
    const keys = await generateKeyPair();
    const now = Date.now();
    const der = await mintCertificate(
      { commonName: 'b', notBefore: new Date(now - DAY), notAfter: new Date(now + 30 * DAY), isCa: false, eku: ROUTE_EKU, sans: [{ type: 'ip', value: B.publicIp }] },
      keys,
      issuer,
    );
    const cert = join(w.dir, 'b-wrong-ca.pem');
    const key = join(w.dir, 'b-wrong-ca.key');
    await writeFile(cert, toPem('CERTIFICATE', der));
    await writeFile(key, toPem('PRIVATE KEY', await exportPrivateKey(keys.privateKey)), { mode: 0o600 });
    const [sa, sb] = await startPair({ cert, key, ca: fb.routeCaBundle });
    try {
      await sa.waitForLog(HANDSHAKE_REFUSED, 15_000);
      await sb.waitForLog(HANDSHAKE_REFUSED, 15_000);
      assert.equal(await numRoutes(sa), 0);
      assert.equal(await numRoutes(sb), 0);
    } finally {
      await stopPair(sa, sb);
    }
  });

  it('refuses a route certificate from a foreign route CA', async () => {
    const foreign = await makeWorkdir();
    try {
      await applyPki(await planPki(foreign.opts({ nodes: [B] })));
      const ff = nodeFiles(foreign.opts().outDir, 'b');
      const [sa, sb] = await startPair({ cert: ff.routeCert, key: ff.routeKey, ca: ff.routeCaBundle });
      try {
        await sa.waitForLog(HANDSHAKE_REFUSED, 15_000);
        await sb.waitForLog(HANDSHAKE_REFUSED, 15_000);
        assert.equal(await numRoutes(sa), 0);
        assert.equal(await numRoutes(sb), 0);
      } finally {
        await stopPair(sa, sb);
      }
    } finally {
      await foreign.cleanup();
    }
  });

  it('mid-rotation, a restarted node (new route CA) and a not-yet-restarted one (old) keep their route', async () => {
    const oldB = { cert: join(w.dir, 'b-old-route.pem'), key: join(w.dir, 'b-old-route.key') };
    await copyFile(fb.routeCert, oldB.cert);
    await copyFile(fb.routeKey, oldB.key);
    await applyPki(await planPki(w.opts({ nodes: [A, B], forceRouteCa: true })));
    // a runs its new leaf; b still runs its old leaf but already has the bundle of both CAs.
    const [sa, sb, , startA] = await startPair({ ...oldB, ca: fb.routeCaBundle });
    let restarted: NatsServer | undefined;
    try {
      // Each side lists its route to the other: a's new leaf is accepted by b, b's old one by a.
      await assertRoutedTo(sa, sb, 'b', 'a (new route leaf)');
      await assertRoutedTo(sb, sa, 'a', 'b (old route leaf)');
      // The rollout restarts a while b keeps running: the route comes back on both sides.
      await sa.stop();
      restarted = await startA();
      await assertRoutedTo(restarted, sb, 'b', 'a, restarted');
      await assertRoutedTo(sb, restarted, 'a', 'b, still running, after a restarted');
      assert.doesNotMatch(restarted.log() + sb.log(), HANDSHAKE_REFUSED, 'no route handshake was refused on the way');
    } finally {
      await stopPair(sa, sb, ...(restarted ? [restarted] : []));
    }
  });
});
