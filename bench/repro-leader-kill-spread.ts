// How far apart two streams of one cluster come back after their common
// leader is killed, nats-server alone (no membershipd), on loopback. The chaos
// checker sets each stream-leader kill's unavailability beside the bare
// nats-server floor of the same run: the floor stream's first acknowledged
// write after the kill. Both streams' leaders die together, but each raft
// group elects on its own random timer; this measures how far that alone puts
// two identical streams apart, with nothing of unibus in the path.
//
//   1. three nats-servers (127.0.0.94-96, no TLS, no auth), STREAMS streams
//      (R3, file, one message per subject as a KV bucket)
//   2. per stream, a publish every EVERY_MS whatever the ones in flight do
//      (each bound 2 s), through a connection to a server that is not killed
//   3. ROUNDS times: every stream's leader moved onto one server (the rounds
//      take the servers in turn; step-downs, bounded), that server killed
//      (SIGKILL), then, per stream, the time from the kill to the first
//      acknowledged publish sent after it; the server started again and
//      waited for until every stream is current on it (30 s bound)
// Prints the version, each round's times, and over the rounds: each
// stream's time (p50, max), the gap between stream 0 and each other stream
// (p50, max, rounds over 1 s), and the gap between stream 0 and the slowest
// of the others (a write that needs two streams' leaders, against one).
// Run by hand: ROUNDS=12 node --import tsx bench/repro-leader-kill-spread.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { moveLeader } from '../src/controller/chaos/replicas.js';
import { sleep } from '../src/util/time.js';
import { addStream, NatsTrio, serverVersion } from './lib/nats-trio.js';
import { pct } from './lib/stats.js';

const ROUNDS = Number(process.env.ROUNDS ?? 12);
const STREAMS = Math.max(2, Number(process.env.STREAMS ?? 2));
const EVERY_MS = Number(process.env.EVERY_MS ?? 10);
const IPS = ['127.0.0.94', '127.0.0.95', '127.0.0.96'];
const PORTS = { client: 4338, route: 6338 };
const work = mkdtempSync(join(tmpdir(), 'unibus-repro-spread-'));
const trio = new NatsTrio(IPS, work, PORTS);
const names = Array.from({ length: STREAMS }, (_, i) => `S${i}`);
const version = serverVersion();

/** Each stream's publishes: [invoke, complete] of the acknowledged ones (ms, monotonic). */
const acked = new Map<string, [number, number][]>(names.map((n) => [n, []]));

const conns: NatsConnection[] = [];
let stop = false;
let via = 0;
try {
  const up = await trio.up();
  conns.push(up.nc);
  const jsm = up.jsm;
  for (const n of names) await addStream(jsm, { name: n, subjects: [`${n}.>`], num_replicas: 3, max_msgs_per_subject: 1 });
  // One connection per server, each to that server alone: the publishers go through one that stays up.
  for (const ip of IPS) conns.push(await connect({ servers: `nats://${ip}:${PORTS.client}`, timeout: 5000, reconnect: true, maxReconnectAttempts: -1 }));
  const pubs = names.map(async (n) => {
    for (let i = 0; !stop; i++) {
      const js = jetstream(conns[1 + via]!, { timeout: 2000 });
      const invoke = performance.now();
      void js.publish(`${n}.k${i % 50}`, `v${i}`, { timeout: 2000 }).then(
        () => acked.get(n)!.push([invoke, performance.now()]),
        () => undefined,
      );
      await sleep(EVERY_MS);
    }
  });
  const times: number[][] = names.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    const victim = r % 3;
    via = (victim + 1) % 3;
    const server = `s${victim}`;
    const why = (await Promise.all(names.map((n) => moveLeader(up.nc, jsm, n, server, 40)))).filter(Boolean);
    if (why.length) {
      console.log(`round ${r + 1}: ${server} could not be made leader of every stream (${why.join('; ')}); skipped`);
      continue;
    }
    await sleep(500);
    const t0 = performance.now();
    trio.procs[victim]!.kill('SIGKILL');
    trio.procs[victim] = null;
    const back = names.map(() => NaN);
    for (const until = Date.now() + 30_000; back.some(Number.isNaN) && Date.now() < until; await sleep(100)) {
      names.forEach((n, k) => {
        let first = Infinity;
        for (const [inv, done] of acked.get(n)!) if (inv >= t0 && done < first) first = done;
        if (first < Infinity) back[k] = first - t0;
      });
    }
    back.forEach((ms, k) => times[k]!.push(ms));
    console.log(`round ${r + 1}: ${server} killed; first acknowledged write after it: ${back.map((ms, k) => `${names[k]} ${Math.round(ms)} ms`).join(', ')}`);
    trio.start(victim);
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(250)) {
      const infos = await Promise.all(names.map((n) => jsm.streams.info(n).catch(() => null)));
      if (infos.every((si) => si?.cluster?.leader && (si.cluster.replicas ?? []).filter((x) => x.current && !x.offline).length === 2)) break;
    }
  }
  stop = true;
  await Promise.race([Promise.all(pubs), sleep(3000)]);
  const fmt = (xs: number[]) => `p50 ${Math.round(pct(xs, 50))} ms, max ${Math.round(Math.max(...xs))} ms`;
  console.log(`nats-server ${version}, ${STREAMS} streams, ${times[0]!.length} kills, a publish every ${EVERY_MS} ms per stream`);
  names.forEach((n, k) => console.log(`${n}: kill to first acknowledged write ${fmt(times[k]!.filter((x) => !Number.isNaN(x)))}`));
  for (let k = 1; k < STREAMS; k++) {
    const gap = times[0]!.map((t, i) => Math.abs(t - times[k]![i]!)).filter((x) => !Number.isNaN(x));
    console.log(`|${names[0]} - ${names[k]}|: ${fmt(gap)}; over 1 s in ${gap.filter((x) => x > 1000).length} of ${gap.length} kills`);
  }
  const slowest = times[0]!.map((t, i) => Math.max(...times.slice(1).map((ts) => ts[i]!)) - t).filter((x) => !Number.isNaN(x));
  console.log(`slowest other stream minus ${names[0]}: ${fmt(slowest)}; over 1 s in ${slowest.filter((x) => x > 1000).length} of ${slowest.length} kills`);
} finally {
  stop = true;
  for (const c of conns) await c.close().catch(() => {});
  await trio.stopAll();
  rmSync(work, { recursive: true, force: true });
}
