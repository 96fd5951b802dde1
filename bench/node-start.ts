// Cold start of a 3-node membershipd cluster on loopback (127.0.0.31-33) to
// all three /healthz 200, median of 5, beside nats-server alone started from
// the very configs membershipd rendered (the floor); idle RSS of membershipd
// (without its child); KV write rate with sync_interval always vs relaxed.
// Run by hand: node --import tsx bench/node-start.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { openBucketWithRetry, retryWithin } from '../src/daemon/nats/connect.js';
import { killAllDaemons, stopDaemon } from '../test/harness/membershipd.js';
import { allHealthy, buildDaemon, healthy, internalConnect, median, rssMb, sleep, startCluster, until } from './lib/cluster.js';

const HOSTS = ['127.0.0.31', '127.0.0.32', '127.0.0.33'];
const RUNS = Number(process.env.RUNS ?? 5);

function monitorPort(conf: string): number {
  return Number(/^http: "127\.0\.0\.1:(\d+)"/m.exec(conf)![1]);
}

const allKids: ChildProcess[] = [];

/** nats-server alone from membershipd's own rendered configs, fresh JetStream dirs. */
async function floor(run: Awaited<ReturnType<typeof startCluster>>, syncOverride?: string) {
  const confs: string[] = [];
  const kids: ChildProcess[] = [];
  for (const n of run.names) {
    await rm(join(run.dir, n, 'jetstream'), { recursive: true, force: true });
    let conf = await readFile(join(run.dir, n, 'nats.conf'), 'utf8');
    if (syncOverride) {
      conf = conf.replace('sync_interval: always', `sync_interval: "${syncOverride}"`);
      await writeFile(join(run.dir, n, 'nats.conf'), conf, { mode: 0o600 });
    }
    confs.push(conf);
  }
  const t0 = performance.now();
  for (const n of run.names) {
    const log = openSync(join(run.dir, `${n}.floor${syncOverride ?? ''}.log`), 'w');
    kids.push(spawn('nats-server', ['-c', join(run.dir, n, 'nats.conf')], { stdio: ['ignore', log, log] }));
  }
  allKids.push(...kids);
  await until('floor healthz', async () => (await Promise.all(confs.map((c) => healthy(`http://127.0.0.1:${monitorPort(c)}/healthz`)))).every(Boolean));
  const healthyAt = performance.now() - t0;
  const nc = await internalConnect(run, 0);
  // Same retry as membershipd: placement fails until the meta group knows every peer.
  const kv = await openBucketWithRetry(nc, 'BENCH_floor', { replicas: 3 }, 30_000);
  await retryWithin('floor first write', 30_000, () => kv.put('k', 'v'));
  const firstWrite = performance.now() - t0;
  return { healthy: healthyAt, firstWrite, nc, kids };
}

async function writeRate(nc: NatsConnection, bucket: string, seconds = 3, inflight = 16): Promise<number> {
  const kv = await new Kvm(jetstream(nc, { timeout: 5000 })).create(bucket, { replicas: 3 });
  let n = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: inflight }, async (_, w) => {
    while (Date.now() < end) await kv.put(`k${w}.${n++ % 1000}`, 'x'.repeat(128));
  }));
  return n / seconds;
}

async function stopKids(kids: ChildProcess[]) {
  await Promise.all(kids.map((k) => new Promise<void>((r) => {
    if (k.exitCode !== null) return r();
    k.once('exit', () => r());
    k.kill('SIGTERM');
    setTimeout(() => { k.kill('SIGKILL'); r(); }, 10_000);
  })));
}

async function main() {
  buildDaemon();
  const work = await mkdtemp(join(tmpdir(), 'unibus-bench-pki-'));
  const passFile = join(work, 'pass');
  await writeFile(passFile, 'bench-route-secret\n', { mode: 0o600 });
  const mdTimes: number[] = [];
  const floorTimes: number[] = [];
  const floorWrites: number[] = [];
  let rss: number[] = [];
  const phases: string[] = [];
  const gaps: number[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const run = await startCluster(HOSTS, join(work, `pki${r}`), passFile);
      const t0 = performance.now();
      await allHealthy(run);
      mdTimes.push(performance.now() - t0);
      // Where the time went, from each daemon's own log (seconds since its start).
      const at = (re: RegExp) => run.daemons.map((d) => Number(re.exec(d.output())?.[1] ?? NaN).toFixed(2)).join('/');
      phases.push(`child up ${at(/\[\+([\d.]+)s\] nats-server .* started/)} s, node ready ${at(/\[\+([\d.]+)s\] node ready/)} s, control plane ${at(/\[\+([\d.]+)s\] ready: first/)} s`);
      if (process.env.BENCH_LOG || mdTimes[r] > 10_000) for (const d of run.daemons) console.log(d.output());
      if (r === 0) {
        // Idle: V8 shrinks the heap a few seconds after start-up work ends.
        await sleep(30_000);
        rss = run.daemons.map((d) => rssMb(d.pid));
      }
      await Promise.all(run.daemons.map((d) => stopDaemon(d, 30_000)));
      let f;
      try {
        f = await floor(run);
      } catch (err) {
        // Seen now and then: R3 placement refused for good on the restarted bare cluster.
        console.log(`run ${r + 1}: membershipd ${mdTimes[r].toFixed(0)} ms; floor failed: ${(err as Error).message} (${((err as Error).cause as Error)?.message})`);
        await stopKids(allKids);
        console.log(`  nats-server logs kept in ${run.dir}`);
        continue;
      }
      floorTimes.push(f.healthy);
      gaps.push(mdTimes[r] - f.healthy);
      floorWrites.push(f.firstWrite);
      if (r === RUNS - 1) {
        const always = await writeRate(f.nc, 'BENCH_always');
        await f.nc.close();
        await stopKids(f.kids);
        try {
          const g = await floor(run, '2m');
          const relaxed = await writeRate(g.nc, 'BENCH_relaxed');
          await g.nc.close();
          await stopKids(g.kids);
          console.log(`KV R3 put rate, 16 in flight, 128 B: sync_interval always ${always.toFixed(0)}/s, relaxed (2m) ${relaxed.toFixed(0)}/s`);
        } catch (err) {
          console.log(`KV R3 put rate, sync_interval always ${always.toFixed(0)}/s; relaxed floor failed: ${(err as Error).message}`);
          await stopKids(allKids);
        }
      } else {
        await f.nc.close();
        await stopKids(f.kids);
      }
      await rm(run.dir, { recursive: true, force: true });
      console.log(`run ${r + 1}: membershipd ${mdTimes[r].toFixed(0)} ms, nats-server alone healthz ${f.healthy.toFixed(0)} ms (+first R3 write ${f.firstWrite.toFixed(0)} ms); gap ${(mdTimes[r] - f.healthy).toFixed(0)} ms`);
      console.log(`  membershipd b1/b2/b3: ${phases[r]}`);
    }
    console.log(`cold start 3 nodes to all healthy, median of ${RUNS}: membershipd ${median(mdTimes).toFixed(0)} ms; nats-server alone ${median(floorTimes).toFixed(0)} ms (healthz), ${median(floorWrites).toFixed(0)} ms (first R3 write)`);
    console.log(`gap to the floor, run by run (same run's membershipd minus nats-server alone): median ${median(gaps).toFixed(0)} ms`);
    console.log(`idle RSS of membershipd (no child), 30 s after healthy: ${rss.map((x) => x.toFixed(1)).join(', ')} MB (node flags: ${process.env.MEMBERSHIPD_NODE_ARGS || 'none'})`);
  } finally {
    await stopKids(allKids);
    await killAllDaemons();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
