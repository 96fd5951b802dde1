// Minimal reproduction, nats-server alone (no membershipd), on loopback: how
// long each stream goes without a leader when a server hands its leaders off
// for a graceful stop, in the two ways a supervisor can ask for it.
//
//   1. three nats-servers (127.0.0.97-99, no TLS, no auth), STREAMS streams
//      (R3, file, one message per subject as a KV bucket)
//   2. one publisher per stream, without pause: js.publish, 2 s bound; each
//      answer classed (ok, no responders, timeout, other)
//   3. ROUNDS times: the server leading the most streams is stopped
//        MODE=ldm      SIGUSR2 (lame duck: it steps down from everything at
//                      once), then SIGTERM once it leads nothing (5 s bound)
//        MODE=serial   STREAM.LEADER.STEPDOWN for each stream it leads, one
//                      after the other, each waited for (2 s bound), then as
//                      ldm (it then leads nothing but the meta group)
//      started again, and waited for until every stream is current on it
// Prints the version and, per mode, the publishers' failed tries by class and
// each stream's longest gap between two acknowledgements around the stop
// (p50, max over the streams and rounds).
// Run by hand: MODE=serial node --import tsx bench/repro-handoff.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamManager } from '@nats-io/jetstream';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';
import { sleep } from '../src/util/time.js';
import { addStream, NatsTrio, serverVersion } from './lib/nats-trio.js';
import { pct } from './lib/stats.js';

const ROUNDS = Number(process.env.ROUNDS ?? 6);
const STREAMS = Number(process.env.STREAMS ?? 6);
const MODE = process.env.MODE === 'serial' ? 'serial' : 'ldm';
const work = mkdtempSync(join(tmpdir(), 'unibus-repro-handoff-'));
const trio = new NatsTrio(['127.0.0.97', '127.0.0.98', '127.0.0.99'], work, { client: 4336, route: 6336, http: 8336 });
const names = Array.from({ length: STREAMS }, (_, i) => `H${i}`);

const version = serverVersion();

async function leaders(jsm: JetStreamManager): Promise<Map<string, { leader?: string; current: number }>> {
  const out = new Map<string, { leader?: string; current: number }>();
  for (const n of names) {
    const si = await jsm.streams.info(n).catch(() => null);
    out.set(n, { leader: si?.cluster?.leader || undefined, current: (si?.cluster?.replicas ?? []).filter((r) => r.current && !r.offline).length });
  }
  return out;
}

function classOf(e: unknown): string {
  for (let x = e; x instanceof Error; x = x.cause) {
    if (x instanceof NoRespondersError || (x instanceof RequestError && x.isNoResponders())) return 'no responders';
    if (x instanceof TimeoutError) return 'timeout';
  }
  return `other: ${(e as Error).message}`;
}

let nc: NatsConnection | undefined;
let stop = false;
const fails = new Map<string, number>();
let oks = 0;
/** Per stream, the times of its acknowledgements (ms, monotonic). */
const acked = new Map<string, number[]>(names.map((n) => [n, []]));
try {
  const up = await trio.up();
  nc = up.nc;
  const jsm = up.jsm;
  for (const n of names) await addStream(jsm, { name: n, subjects: [`${n}.>`], num_replicas: 3, max_msgs_per_subject: 1 });
  const js = jetstream(nc, { timeout: 2000 });
  const pubs = names.map(async (n) => {
    for (let i = 0; !stop; i++) {
      try {
        await js.publish(`${n}.k${i % 50}`, `v${i}`, { timeout: 2000 });
        oks++;
        acked.get(n)!.push(performance.now());
      } catch (e) {
        const c = classOf(e);
        fails.set(c, (fails.get(c) ?? 0) + 1);
        await sleep(10);
      }
    }
  });
  const gaps: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const ls = await leaders(jsm);
    const count = new Map<string, number>();
    for (const { leader } of ls.values()) if (leader) count.set(leader, (count.get(leader) ?? 0) + 1);
    const victim = [...count.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    if (!victim) throw new Error('no stream has a leader');
    const i = Number(victim.slice(1));
    const t0 = performance.now();
    if (MODE === 'serial') {
      for (const [n, s] of ls) {
        if (s.leader !== victim) continue;
        await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${n}`, undefined, { timeout: 2000 }).catch(() => null);
        for (const until = Date.now() + 2000; Date.now() < until; await sleep(20)) {
          const si = await jsm.streams.info(n).catch(() => null);
          if (si?.cluster?.leader && si.cluster.leader !== victim) break;
        }
      }
    }
    trio.procs[i]!.kill('SIGUSR2');
    for (const until = Date.now() + 5000; Date.now() < until; await sleep(100)) {
      const now = await leaders(jsm).catch(() => null);
      if (now && [...now.values()].every((s) => s.leader && s.leader !== victim)) break;
    }
    await trio.stop(i);
    await sleep(1000);
    const t1 = performance.now();
    for (const n of names) {
      const ts = acked.get(n)!.filter((t) => t >= t0 - 2000 && t <= t1);
      let g = 0;
      for (let k = 1; k < ts.length; k++) g = Math.max(g, ts[k] - ts[k - 1]);
      gaps.push(g);
    }
    trio.start(i);
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(250)) {
      const now = await leaders(jsm).catch(() => null);
      if (now && [...now.values()].every((s) => s.leader && s.current === 2)) break;
    }
    process.stdout.write(`round ${r + 1}: ${victim} led ${count.get(victim)}, longest gap ${Math.round(Math.max(...gaps.slice(-STREAMS)))} ms\n`);
  }
  stop = true;
  await Promise.race([Promise.all(pubs), sleep(5000)]);
  console.log(`nats-server ${version}, MODE=${MODE}, ${STREAMS} streams, ${ROUNDS} rounds`);
  console.log(`publishes ok ${oks}; failed tries: ${[...fails].map(([c, k]) => `${c} ${k}`).join(', ') || 'none'}`);
  console.log(`longest gap between acknowledgements per stream and stop: p50 ${Math.round(pct(gaps, 50))} ms, max ${Math.round(Math.max(...gaps))} ms`);
} finally {
  stop = true;
  await nc?.close().catch(() => {});
  await trio.stopAll();
  rmSync(work, { recursive: true, force: true });
}
