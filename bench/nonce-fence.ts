// What a full-cluster crash costs signed requests, by nonce store: a 3-node
// R3 loopback cluster (real membershipd processes, as installed) serves a few
// signed requests; then every membershipd and its nats-server is killed at
// once (SIGKILL, as a power cut) and all three are started again. Measured:
// how long until every node is healthy, and until a signed request is served
// again. With nonces in memory the history is gone, and requests are refused
// until the new one covers 130 s (src/daemon/store/nonce-history.ts); on
// disk nothing is lost.
// Run by hand: NONCE_STORE=memory|disk node --import tsx bench/nonce-fence.ts
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClientError, UnibusClient } from '../src/client/index.js';
import { openStoreWithRetry } from '../src/daemon/store/buckets.js';
import { addUser } from '../src/daemon/store/users.js';
import { makeUser } from '../test/harness/control-plane.js';
import { childPid, killAllDaemons, spawnDaemon, stopDaemon } from '../test/harness/membershipd.js';
import { allHealthy, buildDaemon, internalConnect, nonceStoreEnv, sleep, startCluster } from './lib/cluster.js';

const NONCE_STORE = nonceStoreEnv('memory');
const LIMIT_MS = 300_000;

buildDaemon();
const work = await mkdtemp(join(tmpdir(), 'unibus-bench-fence-'));
const passFile = join(work, 'pass');
await writeFile(passFile, 'bench-route-secret\n', { mode: 0o600 });
const run = await startCluster(['127.0.0.65', '127.0.0.66', '127.0.0.67'], join(work, 'pki'), passFile, ['--nonce-store', NONCE_STORE]);
try {
  await allHealthy(run);
  const nc = await internalConnect(run, 0);
  const admin = makeUser('admin');
  await addUser(await openStoreWithRetry(nc, { replicas: 3, nonceStore: NONCE_STORE }, 30_000), { handle: 'admin', sign_pub: admin.sign_pub, role: 'admin' });
  await nc.close();
  const clients = run.daemons.map((d) => new UnibusClient({ baseUrl: d.http, handle: 'admin', seed: admin.seed, timeoutMs: 3000 }));
  for (let i = 0; i < 30; i++) await clients[i % 3].me();
  console.log(`nonces on ${NONCE_STORE}: 30 signed requests served; killing every membershipd and nats-server at once`);
  const pids = run.daemons.flatMap((d) => [d.pid, childPid(d)]).filter((p): p is number => !!p);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await Promise.all(run.daemons.map((d) => d.exited));
  const t0 = performance.now();
  const s = (t: number) => ((t - t0) / 1000).toFixed(1);
  run.daemons.splice(0, 3, ...run.daemons.map((d) => spawnDaemon(d.args, d)));
  await allHealthy(run, LIMIT_MS);
  const healthy = performance.now();
  let first: string | undefined;
  let refused = 0;
  for (let i = 0; performance.now() - t0 < LIMIT_MS; i++) {
    try {
      await clients[i % 3].me();
      console.log(`healthy on every node ${s(healthy)} s after the start; first signed request served ${s(performance.now())} s after it (${refused} refused before)`);
      break;
    } catch (err) {
      if (err instanceof ApiClientError && err.status !== 503) throw err;
      refused++;
      if (!first) {
        first = (err as Error).message;
        console.log(`first refusal, ${s(performance.now())} s after the start: ${first}`);
      }
    }
    await sleep(1000);
  }
  if (performance.now() - t0 >= LIMIT_MS) console.log(`no signed request served within ${LIMIT_MS / 1000} s`);
} finally {
  await Promise.all(run.daemons.map((d) => stopDaemon(d, 20_000)));
  await killAllDaemons();
  await rm(run.dir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
}
process.exit(0);
