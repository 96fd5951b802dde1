// Signed write requests/s and p50/p99 through membershipd on a 3-node R3
// loopback cluster (sync_interval: always), beside the raw kv.create rate of a
// bare nats.js client at the same concurrency in the same run. Each node is a
// real membershipd process (compiled, as installed) with its nats-server
// child; this process only drives load, as a client fleet would.
// Then: RSS of each membershipd 5, 15 and 30 s after the load; what a live
// nonce costs each node (NONCE_KEYS more nonces, 60,000 by default, 0 to
// skip) and the bound that makes at the measured rate; how long a new user
// takes to become usable on all three nodes, and how long a revocation takes
// to cut that user's open NATS connection on all three.
// BARE=1 adds a fourth kind of operation: the same signed write served by
// bench/lib/bare-server.ts, a bare node:http server per node that does only
// the signature check, the nonce claim and the data write. Its rate is near
// the most that an HTTP front built on the same parts (node:http, node:crypto
// Ed25519, nats.js) could reach on the same machine.
// Run by hand: node --import tsx bench/api-writes.ts [requests] [concurrency[,concurrency...]]
// (ROUNDS, SLICES, WARMUP, NONCE_KEYS, NONCE_STORE, BARE and RSS_AFTER in the environment; see below.)
// (MEMBERSHIPD_NODE_ARGS="--cpu-prof --cpu-prof-dir=D" profiles the daemons.)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { UnibusClient } from '../src/client/client.js';
import { newNonce as makeNonce } from '../src/protocol/sign.js';
import { nkeySeedFromRaw } from '../src/protocol/ed25519.js';
import { NONCE_STREAM, NONCE_TTL_MS, nonceBucketOptions, nonceStorage, openStoreWithRetry } from '../src/daemon/store/buckets.js';
import { openBucketWithRetry } from '../src/daemon/nats/connect.js';
import { addUser } from '../src/daemon/store/users.js';
import { makeUser } from '../test/harness/control-plane.js';
import { killAllDaemons, stopDaemon } from '../test/harness/membershipd.js';
import { startBareServers, type BareServers } from './lib/bare.js';
import { allHealthy, buildDaemon, internalConnect, natsListen, nonceStoreEnv, rssMb, sleep, startCluster } from './lib/cluster.js';
import { cpuSecs, drive, pct, timed, whyText, type Timed } from './lib/stats.js';

const f = (x: number | undefined) => (x === undefined ? 'n/a' : x.toFixed(1));
const N = Number(process.argv[2] ?? 3000);
// One concurrency, or several to sweep in the same run (e.g. 4,8,16).
const LEVELS = (process.argv[3] ?? '16').split(',').map(Number);
if (!LEVELS.every((c) => Number.isSafeInteger(c) && c > 0)) throw new Error(`concurrency: expected a positive integer or a comma-separated list of them, got ${process.argv[3]}`);
const HOSTS = ['127.0.0.47', '127.0.0.48', '127.0.0.49'];

/** One start-up step, named in its error: a nats.js timeout carries no stack that says where it came from. */
async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`start-up, ${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** One kind of operation, measured over one or more slices: latencies, time, errors and CPU add up. */
interface Tally extends Timed {
  /** CPU seconds over its slices: this process, the HTTP servers (membershipd or bare), the nats-servers. */
  cpu: number[];
}
const tally = (): Tally => ({ ...timed(), cpu: [0, 0, 0] });

function summary(t: Tally, server = 'membershipd'): { rps: number; p50: number; p99: number; errors: number; why: string; cpu: string } {
  const per = t.cpu.map((x) => (x * 1000) / (t.lat.length + t.errors));
  return {
    rps: t.lat.length / t.secs,
    p50: pct(t.lat, 50),
    p99: pct(t.lat, 99),
    errors: t.errors,
    why: whyText(t),
    cpu: `CPU per op: load ${f(per[0])} ms, ${server} ${f(per[1])} ms, nats-server ${f(per[2])} ms`,
  };
}

buildDaemon();
const work = await mkdtemp(join(tmpdir(), 'unibus-bench-api-'));
const passFile = join(work, 'pass');
await writeFile(passFile, 'bench-route-secret\n', { mode: 0o600 });
const ncs: NatsConnection[] = [];
const BARE = process.env.BARE === '1';
let bare: BareServers | undefined;
const userConns: NatsConnection[] = [];
// NONCE_STORE=memory runs the cluster with --nonce-store memory (default disk).
const NONCE_STORE = nonceStoreEnv('disk');
const run = await startCluster(HOSTS, join(work, 'pki'), passFile, ['--nonce-store', NONCE_STORE]);
try {
  await allHealthy(run);
  for (let i = 0; i < 3; i++) ncs.push(await step(`connecting to node ${i + 1}`, () => internalConnect(run, i)));
  const admin = makeUser('admin');
  const store = await step('opening the store', () => openStoreWithRetry(ncs[0], { replicas: 3, nonceStore: NONCE_STORE }, 30_000));
  await step('adding the admin', () => addUser(store, { handle: 'admin', sign_pub: admin.sign_pub, role: 'admin' }));
  const clients = run.daemons.map((d) => new UnibusClient({ baseUrl: d.http, handle: 'admin', seed: admin.seed }));
  // The signed write timed below is a sealed-key upload: the nonce claim, then
  // one data write; the user and the room's members come from the node's
  // copies (store/follow.ts), with a leader barrier at most every 100 ms.
  await step('creating the room', () => clients[0].createRoom('bench'));
  const sealed = Buffer.alloc(48, 7).toString('base64');
  const upload = (i: number) => clients[i % 3].putKeys('bench', 1, { admin: sealed }).then(() => {});
  // Warm up to a steady state (connections, leaders, the daemons' JIT and
  // heap): after 300 warm-up requests, membershipd's CPU per request fell
  // round by round from 1.4 to 0.6 ms over the next 12,000; after 15,000 it
  // was 0.7-0.8 ms from the first round. WARMUP sets the count.
  const warmup = Number(process.env.WARMUP ?? 12_000);
  const top = Math.max(...LEVELS);
  await drive(warmup, top, upload, tally());

  const daemonPids = run.daemons.map((d) => d.pid);
  const natsPids = run.names.map((n) => Number(readFileSync(join(run.dir, n, 'nats-server.pid'), 'utf8').trim()));
  const pub = makeUser('probe').sign_pub;
  const rawOpts = { replicas: 3, history: 1, allow_direct: false };
  // Created with retries (an R3 stream placed right after the warm-up can
  // time out once), then opened on every node with the 5 s bound the load uses.
  await step('creating BENCH_raw', () => openBucketWithRetry(ncs[0], 'BENCH_raw', rawOpts, 60_000));
  const kvs = await step('opening BENCH_raw', () => Promise.all(ncs.map((nc) => new Kvm(jetstream(nc, { timeout: 5000 })).create('BENCH_raw', rawOpts))));
  // The same store work's nonces go where membershipd's do: an R3 stream with
  // the nonce TTL, on disk or (NONCE_STORE=memory) in memory.
  const nonceOpts = nonceBucketOptions(3, NONCE_STORE);
  await step('creating BENCH_nonces', () => openBucketWithRetry(ncs[0], 'BENCH_nonces', nonceOpts, 60_000));
  const nonceBench = await step('opening BENCH_nonces', () => Promise.all(ncs.map((nc) => new Kvm(jetstream(nc, { timeout: 5000 })).create('BENCH_nonces', nonceOpts))));
  await drive(Math.min(warmup, 3000), top, (i) => kvs[i % 3].create(`w${i}`, '{}'), tally());
  // BARE=1: the same upload through bare servers, warmed up as membershipd was.
  let bareUpload: ((i: number) => Promise<void>) | undefined;
  if (BARE) {
    bare = await step('starting the bare servers', () => startBareServers(run, admin.sign_pub, 'BENCH_nonces', 'BENCH_raw'));
    const bareClients = bare.urls.map((baseUrl) => new UnibusClient({ baseUrl, handle: 'admin', seed: admin.seed }));
    bareUpload = (i: number) => bareClients[i % 3].putKeys('bench', 1, { admin: sealed }).then(() => {});
    await drive(warmup, top, bareUpload, tally());
  }
  // The kinds of operation take turns in slices of N / SLICES (6 by
  // default): on a shared machine the rate drifts by up to 30% within
  // seconds, and in short turns they all meet the same conditions. A round
  // adds up its slices; the summary takes the median of ROUNDS rounds (3).
  const rounds = Number(process.env.ROUNDS ?? 3);
  const slices = Number(process.env.SLICES ?? 6);
  const per = Math.ceil(N / slices);
  // One slice of `per` operations into a tally, with the CPU each process group used meanwhile.
  const sum = (pids: number[]) => pids.reduce((a, p) => a + cpuSecs(p), 0);
  const serverPids = [...daemonPids, ...(bare?.pids ?? [])];
  const cpuNow = () => [sum([process.pid]), sum(serverPids), sum(natsPids)];
  const slice = async (c: number, t: Tally, op: (i: number) => Promise<void>): Promise<void> => {
    const b = cpuNow();
    await drive(per, c, op, t);
    cpuNow().forEach((x, i) => (t.cpu[i] += x - b[i]));
  };
  type Phase = ReturnType<typeof summary>;
  const ratio = (r: { raw: Phase; api: Phase }) => r.api.rps / r.raw.rps;
  const medians: { c: number; raw: Phase; pair: Phase; api: Phase; ratios: string }[] = [];
  for (const C of LEVELS) {
    // The ratio depends on nats-server's own speed (a faster server lifts the raw
    // side more than the API side), so each figure names the version it ran on.
    console.log(`requests ${per * slices}, concurrency ${C}, 3 membershipd processes, nats-server ${ncs[0].info?.version ?? '?'}, R3, sync_interval always, nonces on ${nonceStorage(3, NONCE_STORE)} storage, ${rounds} rounds of ${slices} slices`);
    const results: { raw: Phase; pair: Phase; api: Phase; bare?: Phase }[] = [];
    for (let round = 0; round < rounds; round++) {
      const t = { raw: tally(), pair: tally(), api: tally(), bare: tally() };
      for (let sl = 0; sl < slices; sl++) {
        const tag = `${C}.${round}.${sl}`;
        await slice(C, t.raw, (i) => kvs[i % 3].create(`k${tag}.${i}`, '{"handle":"x","sign_pub":"' + pub + '"}').then(() => {}));
        // The same store work as one signed write, without HTTP, signing or h3:
        // the nonce create, then the data write.
        await slice(C, t.pair, async (i) => {
          await nonceBench[i % 3].create(`n${tag}.${i}`, '1');
          await kvs[i % 3].put('d', '{"sealed":"' + sealed + '"}');
        });
        await slice(C, t.api, upload);
        if (bareUpload) await slice(C, t.bare, bareUpload);
      }
      const raw = summary(t.raw);
      const pair = summary(t.pair);
      const api = summary(t.api);
      const bareR = bareUpload ? summary(t.bare, 'bare server') : undefined;
      results.push({ raw, pair, api, bare: bareR });
      console.log(`round ${round + 1}`);
      const rows = [['raw kv.create', 'ops/s', raw], ['same store work', 'ops/s', pair], ['signed API writes', 'req/s', api], ...(bareR ? [['bare signed writes', 'req/s', bareR] as const] : [])] as const;
      for (const [name, unit, r] of rows) {
        console.log(`  ${`${name}:`.padEnd(20)}${f(r.rps)} ${unit}  p50 ${f(r.p50)} ms  p99 ${f(r.p99)} ms  errors ${r.errors}  (${r.cpu})`);
        if (r.errors) console.log(`  ${name} errors: ${r.why}`);
      }
      console.log(`  ratio API/raw:      ${ratio({ raw, api }).toFixed(2)} (a signed write: its nonce claim on ${nonceStorage(3, NONCE_STORE)} storage, then its data write; raw: one write)${NONCE_STORE === 'disk' ? ', limit 0.5' : ''}; API/same-store-work ${(api.rps / pair.rps).toFixed(2)}`);
      if (bareR) console.log(`  ratio bare/raw:     ${(bareR.rps / raw.rps).toFixed(2)} (the same signed write without h3, the store's checks and guards); API/bare ${(api.rps / bareR.rps).toFixed(2)}`);
    }
    const median = [...results].sort((a, b) => ratio(a) - ratio(b))[Math.floor(results.length / 2)]!;
    const { raw, api } = median;
    const ratios = results.map((r) => ratio(r).toFixed(2)).join(', ');
    medians.push({ c: C, ...median, ratios });
    console.log(`median round: API/raw ${ratio(median).toFixed(2)} (${f(api.rps)} / ${f(raw.rps)}), API p99 ${f(api.p99)} ms; ratios ${ratios}; API p99 ${results.map((r) => f(r.api.p99)).join(', ')} ms`);
    if (BARE) console.log(`bare/raw by round: ${results.map((r) => (r.bare!.rps / r.raw.rps).toFixed(2)).join(', ')}; bare p99 ${results.map((r) => f(r.bare!.p99)).join(', ')} ms`);
  }
  if (LEVELS.length > 1) {
    console.log('concurrency | API/raw, median round (all rounds) | API req/s | API p50 / p99 ms | same store work p99 ms');
    for (const m of medians) console.log(`${String(m.c).padStart(11)} | ${ratio(m).toFixed(2)} (${m.ratios}) | ${f(m.api.rps)} | ${f(m.api.p50)} / ${f(m.api.p99)} | ${f(m.pair.p99)}`);
  }
  const api = medians.reduce((a, m) => (m.api.rps > a.rps ? m.api : a), medians[0].api);
  // Idle RSS: each membershipd (its nats-server child not counted) at 5, 15
  // and 30 s after the last request (RSS_AFTER, seconds, comma-separated).
  const rssAfter = (process.env.RSS_AFTER ?? '5,15,30').split(',').map(Number);
  if (!rssAfter.every((x) => Number.isFinite(x) && x >= 0)) throw new Error(`RSS_AFTER: expected seconds, comma-separated, got ${process.env.RSS_AFTER}`);
  const loadEnd = performance.now();
  const idle: string[] = [];
  for (const at of rssAfter) {
    await sleep(Math.max(0, loadEnd + at * 1000 - performance.now()));
    idle.push(`${at} s: ${run.daemons.map((d) => rssMb(d.pid).toFixed(1)).join(', ')} MB`);
  }
  console.log(`membershipd RSS after the load, idle (no child): ${idle.join('; ')}`);
  const live = Math.round(api.rps * (NONCE_TTL_MS / 1000));
  console.log(`nonces at this rate: ${live} live keys (TTL ${NONCE_TTL_MS / 1000} s)`);
  // What a live nonce costs each node: NONCE_KEYS more nonce-shaped keys
  // (handle.nonce -> timestamp, as claimNonce writes them) straight into the
  // nonce bucket, then the bytes stored per key and nats-server's RSS growth.
  const extra = Number(process.env.NONCE_KEYS ?? 60_000);
  if (extra > 0) {
    const jsm = await jetstreamManager(ncs[0]);
    const nonceKvs = await Promise.all(ncs.map((nc) => new Kvm(jetstream(nc, { timeout: 5000 })).open('UNIBUS_nonces', { allow_direct: false })));
    const s0 = (await jsm.streams.info(NONCE_STREAM)).state;
    const rss0 = natsPids.map(rssMb);
    const fill = summary(await drive(extra, 32, (i) => nonceKvs[i % 3].create(`admin.${makeNonce()}`, String(Date.now())), tally()));
    const s1 = (await jsm.streams.info(NONCE_STREAM)).state;
    const rss1 = natsPids.map(rssMb);
    const keys = s1.messages - s0.messages;
    const stored = (s1.bytes - s0.bytes) / keys;
    const grew = rss1.map((r, i) => ((r - rss0[i]) * 1024 * 1024) / keys);
    console.log(`nonce cost: ${keys} more keys (${f(fill.rps)}/s): ${stored.toFixed(0)} bytes stored per key; nats-server RSS grew ${grew.map((g) => g.toFixed(0)).join(', ')} bytes per key (Go heap, GC headroom included)`);
    const perKey = Math.max(stored, ...grew);
    console.log(`nonce bound at ${f(api.rps)} req/s: ${live} live keys, about ${((live * perKey) / 1e6).toFixed(0)} MB per node at ${perKey.toFixed(0)} bytes per key`);
  }

  // Revocation: every node follows the users bucket and reloads its own server.
  const ca = readFileSync(run.clientCa, 'utf8');
  const urls = run.names.map((n) => natsListen(join(run.dir, n)));
  for (let round = 0; round < 3; round++) {
    const u = makeUser(`rev${round}`);
    const t1 = performance.now();
    await clients[round % 3].addUser({ handle: u.handle, sign_pub: u.sign_pub, role: 'member' });
    const conns = await Promise.all(
      urls.map(async (url) => {
        const host = url.split(':')[0];
        const tls = { ca, checkServerIdentity: (_n: string, c: PeerCertificate) => checkServerIdentity(host, c) };
        for (let tries = 0; ; tries++) {
          try {
            return await connect({ servers: url, tls, authenticator: nkeyAuthenticator(nkeySeedFromRaw(u.seed)), reconnect: false, ignoreClusterUpdates: true });
          } catch (err) {
            if (tries > 500) throw err;
            await sleep(20);
          }
        }
      }),
    );
    userConns.push(...conns);
    const usable = performance.now() - t1;
    const t0 = performance.now();
    const closed = conns.map((c) => c.closed().then(() => performance.now() - t0));
    await clients[(round + 1) % 3].revokeUser(u.handle);
    const cut = await Promise.race([Promise.all(closed), sleep(30_000).then(() => null)]);
    console.log(`user ${u.handle}: usable on 3 nodes ${f(usable)} ms after add; revocation cut all 3 connections in ${cut ? cut.map(f).join(' / ') : '(not within 30 s)'} ms`);
  }
} finally {
  for (const c of userConns) await c.close().catch(() => {});
  for (const nc of ncs) await nc.close().catch(() => {});
  await bare?.stop();
  await Promise.all(run.daemons.map((d) => stopDaemon(d, 20_000)));
  await killAllDaemons();
  await rm(run.dir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
}
process.exit(0);
