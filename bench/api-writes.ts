// Signed write requests/s and p50/p99 through the /v1 API on a 3-node R3
// loopback cluster (sync_interval: always), beside the raw kv.create rate of a
// bare nats.js client at the same concurrency in the same run.
// Then: how long a new user takes to become usable on all three nodes, and how
// long a revocation takes to cut that user's open connection on all three.
// Run by hand: node --import tsx bench/api-writes.ts [requests] [concurrency]
import { createServer, type Server } from 'node:http';
import { createApp, createRouter, toNodeListener } from 'h3';
import { makeServers, startServers, stopServers } from '../test/helpers/control-nats.js';
import { connectInternal, makeInternal, makeUser, openTestStore } from '../test/helpers/control-plane.js';
import { registerV1Routes } from '../src/daemon/http/routes.js';
import { QuorumGuard } from '../src/daemon/store/quorum.js';
import { addUser } from '../src/daemon/store/users.js';
import { UnibusClient } from '../src/client/client.js';
import { nkeyAuthenticator, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { AclWatcher } from '../src/daemon/auth/acl-watch.js';
import { nkeySeedFromRaw } from '../src/daemon/auth/ed25519.js';
import type { Store } from '../src/daemon/store/buckets.js';
import { revokeUser } from '../src/daemon/store/users.js';
import { Kvm } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';

const f = (x: number) => x.toFixed(1);
const N = Number(process.argv[2] ?? 1500);
const C = Number(process.argv[3] ?? 16);
const HOSTS = ['127.0.0.47', '127.0.0.48', '127.0.0.49'];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function drive(n: number, c: number, op: (i: number) => Promise<void>): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const lat: number[] = [];
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        try {
          await op(i);
          lat.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { rps: lat.length / secs, p50: pct(lat, 50), p99: pct(lat, 99), errors };
}

const id = makeInternal();
const servers = await makeServers({ hosts: HOSTS, internalNkey: id.publicKey, syncInterval: 'always' });
const ncs: NatsConnection[] = [];
const https: Server[] = [];
const guards: QuorumGuard[] = [];
const watchers: AclWatcher[] = [];
const userConns: NatsConnection[] = [];
const stores: Store[] = [];
try {
  await startServers(servers);
  const admin = makeUser('admin');
  const clients: UnibusClient[] = [];
  for (const s of servers) {
    const nc = await connectInternal(s.url, id);
    ncs.push(nc);
    const store = await openTestStore(nc, 3);
    stores.push(store);
    const guard = new QuorumGuard(store);
    await guard.start();
    guards.push(guard);
    if (clients.length === 0) await addUser(store, { handle: 'admin', sign_pub: admin.sign_pub, role: 'admin' });
    const app = createApp();
    const router = createRouter();
    registerV1Routes(router, { store, guard });
    app.use(router);
    const http = createServer(toNodeListener(app));
    await new Promise<void>((r) => http.listen(0, s.conf.host, () => r()));
    https.push(http);
    clients.push(new UnibusClient({ baseUrl: `http://${s.conf.host}:${(http.address() as { port: number }).port}`, handle: 'admin', seed: admin.seed }));
  }
  const pub = makeUser('probe').sign_pub;
  // The signed write timed below is a sealed-key upload: one data write
  // (plus the nonce), after leader reads of the user and the room's members.
  await clients[0].createRoom('bench');
  const sealed = Buffer.alloc(48, 7).toString('base64');
  const upload = (i: number) => clients[i % 3].putKeys('bench', 1, { admin: sealed }).then(() => {});
  // Warm up: connections, leaders, JIT.
  await drive(100, C, upload);

  const kvs = await Promise.all(ncs.map((nc) => new Kvm(jetstream(nc, { timeout: 5000 })).create('BENCH_raw', { replicas: 3, history: 1, allow_direct: false })));
  const raw = await drive(N, C, (i) => kvs[i % 3].create(`k${i}`, '{"handle":"x","sign_pub":"' + pub + '"}').then(() => {}));
  // The same store work as one signed write, without HTTP, signing or h3:
  // (leader read of the user || nonce create), leader read, then the data write.
  const pair = await drive(N, C, async (i) => {
    await Promise.all([kvs[i % 3].get('k0'), kvs[i % 3].create(`n${i}`, '1')]);
    await kvs[i % 3].get('k1');
    await kvs[i % 3].put('d', '{"sealed":"' + sealed + '"}');
  });
  const api = await drive(N, C, upload);
  console.log(`requests ${N}, concurrency ${C}, 3 nodes R3, sync_interval always`);
  console.log(`raw kv.create:      ${f(raw.rps)} ops/s  p50 ${f(raw.p50)} ms  p99 ${f(raw.p99)} ms  errors ${raw.errors}`);
  console.log(`same store work:    ${f(pair.rps)} ops/s  p50 ${f(pair.p50)} ms  p99 ${f(pair.p99)} ms  errors ${pair.errors}`);
  console.log(`signed API writes:  ${f(api.rps)} req/s  p50 ${f(api.p50)} ms  p99 ${f(api.p99)} ms  errors ${api.errors}`);
  console.log(`ratio API/raw:      ${(api.rps / raw.rps).toFixed(2)} (limit 0.5: two replicated writes per request); API/same-store-work ${(api.rps / pair.rps).toFixed(2)}`);
  console.log(`nonce bucket bound at this rate: ${Math.round(api.rps * 300)} live keys (TTL 300 s) per node`);
  console.log(`bench process RSS:  ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB (3 API nodes + load in one process)`);

  // Revocation: every node follows the buckets and reloads its own server.
  for (const [i, st] of stores.entries()) {
    const w = new AclWatcher(st, { apply: (u) => servers[i].setAllowlist(u) });
    await w.start();
    watchers.push(w);
  }
  for (let round = 0; round < 3; round++) {
    const u = makeUser(`rev${round}`);
    const t1 = performance.now();
    await clients[round % 3].addUser({ handle: u.handle, sign_pub: u.sign_pub, role: 'member' });
    const conns = await Promise.all(
      servers.map(async (x) => {
        for (let tries = 0; ; tries++) {
          try {
            return await connect({ servers: x.url, authenticator: nkeyAuthenticator(nkeySeedFromRaw(u.seed)), reconnect: false, ignoreClusterUpdates: true });
          } catch (err) {
            if (tries > 500) throw err;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      }),
    );
    userConns.push(...conns);
    const usable = performance.now() - t1;
    const t0 = performance.now();
    const closed = conns.map((c) => c.closed().then(() => performance.now() - t0));
    await revokeUser(stores[(round + 1) % 3], u.handle);
    const cut = await Promise.all(closed);
    console.log(`user ${u.handle}: usable on 3 nodes ${f(usable)} ms after add; revocation cut all 3 connections in ${cut.map(f).join(' / ')} ms`);
  }
} finally {
  for (const w of watchers) w.stop();
  for (const c of userConns) await c.close().catch(() => {});
  for (const g of guards) g.stop();
  for (const h of https) await new Promise((r) => h.close(r));
  for (const nc of ncs) await nc.close().catch(() => {});
  await stopServers(servers);
}
