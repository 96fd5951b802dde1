// Why a node could not be read, said from the real errors of real loopback
// sockets: a closed port (refused), a port that accepts and never answers
// (timeout), TLS spoken to a plain server; for membershipd's /healthz (fetch)
// and for a node's NATS port (nats.js). And the drift of a cluster that does
// not answer: one line per node with its cause, nothing that follows from it.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { findDrift } from '../../src/controller/probe/drift.js';
import { formatReport } from '../../src/controller/probe/format.js';
import { probeCluster, readHealth, type ClusterReport, type ProbeNode } from '../../src/controller/probe/probe.js';
import { connectInternal } from '../../src/daemon/nats/connect.js';
import { nodeFiles } from '../../src/pki/layout.js';
import { describeNetError } from '../../src/util/net-cause.js';
import { makeCa } from '../harness/certs.js';
import { freePort } from '../harness/ports.js';

const HOST = '127.0.0.1';

/** A server on HOST; `onSocket` decides what it says. Closing also drops held connections. */
async function serve(onSocket: (s: Socket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const held = new Set<Socket>();
  const server: Server = createServer((s) => {
    held.add(s);
    s.on('error', () => undefined);
    s.on('close', () => held.delete(s));
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of held) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** What nats-server says first; `tls_required` makes the client start a TLS handshake. */
const natsInfo = (tls: boolean) => `INFO {"server_id":"test","version":"2.10.0","proto":1,"max_payload":1048576${tls ? ',"tls_required":true' : ''}}\r\n`;

describe('the cause of a failed read, from real sockets', () => {
  let closedPort: number;
  let mute: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    closedPort = await freePort(HOST);
    // Accepts and holds every connection, never writes a byte.
    mute = await serve(() => undefined);
  });
  after(() => mute.close());

  it('/healthz on a closed port: connection refused at that address:port', async () => {
    const r = await readHealth({ name: 'n1', ip: HOST, httpPort: closedPort, natsPort: 1 }, 2000);
    assert.equal(r.http, null);
    assert.deepEqual(r.cause, { kind: 'refused', address: `${HOST}:${closedPort}`, code: 'ECONNREFUSED', message: `connection refused at ${HOST}:${closedPort}` });
    assert.equal(r.reason, r.cause!.message);
  });

  it('/healthz on a port that never answers: a timeout naming its bound', { timeout: 10_000 }, async () => {
    const started = Date.now();
    const r = await readHealth({ name: 'n1', ip: HOST, httpPort: mute.port, natsPort: 1 }, 250);
    assert.ok(Date.now() - started < 5000, 'bounded by the probe timeout');
    assert.equal(r.cause?.kind, 'timeout');
    assert.equal(r.cause?.timeout_ms, 250);
    assert.equal(r.reason, `timed out after 250 ms at ${HOST}:${mute.port}`);
  });

  it('https spoken to a plain HTTP server: a TLS error and which', async () => {
    const plain = createHttpServer((_q, s) => s.end('plain'));
    await new Promise<void>((resolve) => plain.listen(0, HOST, resolve));
    const port = (plain.address() as { port: number }).port;
    try {
      const err = await fetch(`https://${HOST}:${port}/healthz`, { signal: AbortSignal.timeout(3000) }).then(
        () => assert.fail('a TLS handshake with a plain server succeeded'),
        (e: unknown) => e,
      );
      assert.equal((err as Error).message, 'fetch failed', 'fetch hides the cause: what this module is for');
      const c = describeNetError(err, { address: `${HOST}:${port}`, timeoutMs: 3000 });
      assert.equal(c.kind, 'tls');
      assert.equal(c.code, 'ERR_SSL_WRONG_VERSION_NUMBER');
      assert.equal(c.message, `TLS error at ${HOST}:${port}: wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)`);
    } finally {
      plain.closeAllConnections();
      await new Promise((resolve) => plain.close(resolve));
    }
  });

  it('a NATS port: refused, a timeout, and a TLS error, through nats.js and our own wrapper', { timeout: 15_000 }, async () => {
    const dial = async (port: number, timeoutMs: number) => {
      const err = await connectInternal({ servers: `nats://${HOST}:${port}`, seed: null, timeoutMs }).then(
        async (nc) => {
          await nc.close();
          return assert.fail('connected');
        },
        (e: unknown) => e,
      );
      return describeNetError(err, { address: `${HOST}:${port}`, timeoutMs });
    };
    assert.deepEqual(await dial(closedPort, 2000), { kind: 'refused', address: `${HOST}:${closedPort}`, code: 'ECONNREFUSED', message: `connection refused at ${HOST}:${closedPort}` });
    assert.deepEqual(await dial(mute.port, 300), { kind: 'timeout', address: `${HOST}:${mute.port}`, timeout_ms: 300, message: `timed out after 300 ms at ${HOST}:${mute.port}` });
    // A server that asks for TLS, then answers the handshake in plain text.
    const garbled = await serve((s) => {
      s.write(natsInfo(true));
      s.once('data', () => s.write('-ERR not tls\r\n'));
    });
    try {
      const c = await dial(garbled.port, 2000);
      assert.equal(c.kind, 'tls');
      assert.match(c.message, new RegExp(`^TLS error at ${HOST}:${garbled.port}: wrong version number`));
    } finally {
      await garbled.close();
    }
  });

  it('a failed DNS lookup names the host (an error of getaddrinfo\'s shape: no lookup leaves this machine)', () => {
    const lookup = Object.assign(new Error('getaddrinfo ENOTFOUND n1.bus.example'), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'n1.bus.example' });
    const c = describeNetError(new TypeError('fetch failed', { cause: lookup }), { address: 'n1.bus.example:8470' });
    assert.deepEqual(c, { kind: 'dns', address: 'n1.bus.example:8470', code: 'ENOTFOUND', message: 'DNS lookup of n1.bus.example failed (ENOTFOUND)' });
  });
});

describe('the drift of a cluster whose nodes do not answer', () => {
  let dir: string;
  let nodes: ProbeNode[];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unibus-probe-'));
    // Every node has its identity, so the NATS ports are really dialled too.
    const ca = makeCa(join(dir, 'ca'), 'client-ca');
    nodes = [];
    for (const [i, name] of ['n1', 'n2', 'n3'].entries()) {
      const ip = `127.0.0.${71 + i}`;
      nodes.push({ name, ip, httpPort: await freePort(ip), natsPort: await freePort(ip) });
      const f = nodeFiles(join(dir, 'out'), name);
      mkdirSync(f.dir, { recursive: true });
      writeFileSync(f.internalSeed, new TextDecoder().decode(createUser().getSeed()) + '\n', { mode: 0o600 });
      copyFileSync(ca.cert, f.clientCa);
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('one line per node with its cause; no line for what follows from it', { timeout: 20_000 }, async () => {
    const r = await probeCluster(nodes, join(dir, 'out'), 2000);
    assert.deepEqual(
      r.nats.failed.map((x) => [x.node, x.cause.kind, x.cause.address]),
      nodes.map((n) => [n.name, 'refused', `${n.ip}:${n.natsPort}`]),
      'each NATS port dialled, each refusal kept',
    );
    assert.equal(r.nats.via, null);
    const drift = findDrift(r, { clusterName: 'c', kvReplicas: 3, nodeCount: 3 });
    assert.deepEqual(drift, nodes.map((n) => `${n.name}: /healthz unreachable: connection refused at ${n.ip}:${n.httpPort}`));
    const text = formatReport(r, drift);
    assert.doesNotMatch(text, /fetch failed/);
    assert.equal(text.match(/streams not read: /g)?.length, 1, text);
  });
});

describe('findDrift with one node of three down', () => {
  const up = (name: string) => ({
    name,
    http: 200,
    status: 'ok',
    posture: { bus_auth: 'enforce', acl: 'per-user', tls: true, cluster: 'c', route_tls: true, store: 'kv', kv_replicas: 3 },
    routes: 1,
    meta_leader: 'n1',
  });
  const report = (): ClusterReport => ({
    nodes: [
      up('n1'),
      up('n2'),
      { name: 'n3', http: null, status: 'unreachable', reason: 'connection refused at 127.0.0.13:8470', cause: { kind: 'refused', address: '127.0.0.13:8470', code: 'ECONNREFUSED', message: 'connection refused at 127.0.0.13:8470' } },
    ],
    meta_leader: 'n1',
    streams: ['KV_a', 'KV_b'].map((name) => ({ name, replicas: 3, leader: 'n1', peers: [{ name: 'n2', current: true, lag: 0, offline: false }, { name: 'n3', current: false, lag: 0, offline: true }] })),
    certs: [],
    nats: { via: 'n1', failed: [] },
  });
  const want = { clusterName: 'c', kvReplicas: 3, nodeCount: 3 };

  it('says the node and its cause once: not its peers\' missing routes to it, nor its replicas offline', () => {
    assert.deepEqual(findDrift(report(), want), ['n3: /healthz unreachable: connection refused at 127.0.0.13:8470']);
  });

  it('still says what does not follow from it', () => {
    const r = report();
    r.nodes[0]!.routes = 0;
    r.streams[0]!.peers[0]!.current = false;
    r.streams[0]!.peers[0]!.lag = 7;
    assert.deepEqual(findDrift(r, want), [
      'n1: routes to 0 peers, expected 2',
      'n3: /healthz unreachable: connection refused at 127.0.0.13:8470',
      'KV_a: replica n2 not current (lag 7)',
    ]);
  });
});
