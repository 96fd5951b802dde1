// Minimal reproduction, nats-server alone (no membershipd), on loopback: do an
// R3 KV bucket's copies stay equal, and does every acknowledged compare-and-set
// update survive, through graceful rolling restarts under a compare-and-set
// workload? What `play restart` does to a cluster, without anything of unibus
// around it (one CI run of the chaos test found rooms_by_member's three
// copies at three different last sequences after one such restart).
//
//   1. three nats-servers (127.0.0.94-96, no TLS, no auth), BUCKETS KV buckets
//      (R3, history 1, as membershipd's buckets are)
//   2. WRITERS clients per server, each connected to its server alone, each
//      in a loop: read a key (one of KEYS), add its own next element to the
//      set the value holds, kv.update with the revision read; an update
//      answered ok is recorded as acknowledged
//   3. ROUNDS rounds of a rolling restart, each server in turn, the way
//      membershipd stops its child: every stream it leads stepped down one
//      after the other (2 s bound each), lame duck (SIGUSR2), SIGTERM once it
//      leads nothing (5 s bound), started again, and waited for until every
//      stream is current on it (30 s bound); WAIT=healthz waits only for its
//      /healthz to answer ok (30 s bound), then PAUSE_MS (default 0) more
//   4. after each round, writers paused and 2 s given to settle: each
//      server's own copy of each bucket (its /jsz: messages, last sequence)
//      compared; at the end, each replica made leader in turn and every key
//      read there: every acknowledged element present?
// Prints the version, per round whether the copies agree, and at the end the
// acknowledged elements missing per replica. Exit 1 on any divergence or loss.
// Run by hand: node --import tsx bench/repro-rolling-restart.ts
// (NATS_SERVER_BIN=/path/to/nats-server for another version)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { sleep } from '../src/util/time.js';
import { moveLeader } from '../src/controller/chaos/replicas.js';
import { NatsTrio, serverVersion } from './lib/nats-trio.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const BUCKETS = Number(process.env.BUCKETS ?? 3);
const KEYS = Number(process.env.KEYS ?? 200);
const WRITERS = Number(process.env.WRITERS ?? 3);
const WAIT = process.env.WAIT === 'healthz' ? 'healthz' : 'current';
const PAUSE_MS = Number(process.env.PAUSE_MS ?? 0);
const IPS = ['127.0.0.94', '127.0.0.95', '127.0.0.96'];
const PORTS = { client: 4339, route: 6339, http: 8339 };
const work = mkdtempSync(join(tmpdir(), 'unibus-repro-rolling-'));
const trio = new NatsTrio(IPS, work, PORTS);
const buckets = Array.from({ length: BUCKETS }, (_, i) => `B${i}`);
const streams = buckets.map((b) => `KV_${b}`);

interface OwnCopy {
  name: string;
  state: { messages: number; last_seq: number };
  cluster?: { leader?: string };
}
async function ownCopies(i: number): Promise<Map<string, OwnCopy>> {
  const j = (await fetch(`http://${IPS[i]}:${PORTS.http}/jsz?streams=true`, { signal: AbortSignal.timeout(2000) }).then((r) => r.json(), () => null)) as { account_details?: { stream_detail?: OwnCopy[] }[] } | null;
  return new Map((j?.account_details ?? []).flatMap((a) => a.stream_detail ?? []).map((s) => [s.name, s]));
}

async function streamsOf(jsm: JetStreamManager): Promise<Map<string, { leader?: string; current: number }>> {
  const out = new Map<string, { leader?: string; current: number }>();
  for (const s of streams) {
    const si = await jsm.streams.info(s).catch(() => null);
    out.set(s, { leader: si?.cluster?.leader || undefined, current: (si?.cluster?.replicas ?? []).filter((r) => r.current && !r.offline).length });
  }
  return out;
}

const version = serverVersion();
const conns: NatsConnection[] = [];
let paused = false;
let stopped = false;
let code = 0;
/** bucket/key -> elements acknowledged. */
const acked = new Map<string, Set<string>>();
let oks = 0;
let fails = 0;
let conflicts = 0;
try {
  const up = await trio.up();
  conns.push(up.nc);
  const jsm = up.jsm;
  const kvm = new Kvm(up.nc);
  for (const b of buckets) {
    for (let t = 0; ; t++) {
      const e = await kvm.create(b, { replicas: 3, history: 1 }).then(() => null, (x: Error) => x);
      if (!e) break;
      if (t > 60) throw e;
      await sleep(500);
    }
  }
  console.log(`${version}; ${BUCKETS} buckets x ${KEYS} keys, ${WRITERS} writers per server, ${ROUNDS} rolling rounds, each restart waited for until ${WAIT === 'healthz' ? '/healthz ok' : 'every stream current'}${PAUSE_MS ? ` and ${PAUSE_MS} ms more` : ''}`);
  const writers: Promise<void>[] = [];
  for (let i = 0; i < 3; i++) {
    for (let w = 0; w < WRITERS; w++) {
      const nc = await connect({ servers: `nats://${IPS[i]}:${PORTS.client}`, timeout: 5000, reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      conns.push(nc);
      const kvs: KV[] = [];
      for (const b of buckets) kvs.push(await new Kvm(nc).open(b, { timeout: 2000 }));
      const me = `s${i}w${w}`;
      writers.push(
        (async () => {
          for (let n = 0; !stopped; ) {
            if (paused) {
              await sleep(50);
              continue;
            }
            const bi = Math.floor(Math.random() * BUCKETS);
            const key = `k${Math.floor(Math.random() * KEYS)}`;
            const el = `${me}-${n}`;
            try {
              const cur = await kvs[bi]!.get(key);
              const set: string[] = cur && cur.length ? (JSON.parse(cur.string()) as string[]) : [];
              set.push(el);
              if (cur) await kvs[bi]!.update(key, JSON.stringify(set), cur.revision);
              else await kvs[bi]!.create(key, JSON.stringify(set));
              n++;
              oks++;
              const id = `${buckets[bi]}/${key}`;
              if (!acked.has(id)) acked.set(id, new Set());
              acked.get(id)!.add(el);
            } catch (e) {
              const m = (e as Error).message;
              if (/wrong last sequence|key exists/i.test(m)) conflicts++;
              else {
                fails++;
                n++; // unknown outcome: the next element is a new one
                await sleep(20);
              }
            }
          }
        })(),
      );
    }
  }
  const compare = async (label: string): Promise<boolean> => {
    paused = true;
    await sleep(2000);
    const per = await Promise.all([0, 1, 2].map((i) => ownCopies(i)));
    let same = true;
    const rows: string[] = [];
    for (const s of streams) {
      const seqs = per.map((m) => m.get(s)?.state.last_seq ?? -1);
      const msgs = per.map((m) => m.get(s)?.state.messages ?? -1);
      if (new Set(seqs).size > 1 || new Set(msgs).size > 1) same = false;
      rows.push(`${s} last ${seqs.join('/')} msgs ${msgs.join('/')}`);
    }
    console.log(`${label}: ${same ? 'copies equal' : 'COPIES DIFFER'} (${rows.join('; ')}); ${oks} ok, ${fails} failed, ${conflicts} conflicts so far`);
    paused = false;
    return same;
  };
  await sleep(3000);
  let diverged = !(await compare('before'));
  for (let r = 1; r <= ROUNDS && !diverged; r++) {
    for (let i = 0; i < 3; i++) {
      const victim = `s${i}`;
      const ls = await streamsOf(jsm);
      for (const [s, v] of ls) {
        if (v.leader !== victim) continue;
        await up.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${s}`, undefined, { timeout: 2000 }).catch(() => null);
        for (const until = Date.now() + 2000; Date.now() < until; await sleep(50)) {
          if ((await ownCopies(i)).get(s)?.cluster?.leader !== victim) break;
        }
      }
      trio.procs[i]!.kill('SIGUSR2');
      for (const until = Date.now() + 5000; Date.now() < until; await sleep(200)) {
        const own = await ownCopies(i);
        if (![...own.values()].some((c) => c.cluster?.leader === victim)) break;
      }
      await trio.stop(i);
      await sleep(500);
      trio.start(i);
      for (const until = Date.now() + 30_000; Date.now() < until; await sleep(250)) {
        if (WAIT === 'healthz') {
          const ok = await fetch(`http://${IPS[i]}:${PORTS.http}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
          if (ok) break;
          continue;
        }
        const now = await streamsOf(jsm).catch(() => null);
        if (now && [...now.values()].every((s) => s.leader && s.current === 2)) break;
      }
      await sleep(PAUSE_MS);
    }
    diverged = !(await compare(`round ${r}`));
  }
  stopped = true;
  await Promise.race([Promise.all(writers), sleep(10_000)]);
  await sleep(2000);
  // Every replica's copy read at that replica, made leader in turn.
  let lost = 0;
  for (let i = 0; i < 3; i++) {
    const missing: string[] = [];
    for (const [bi, b] of buckets.entries()) {
      const why = await moveLeader(up.nc, jsm, streams[bi]!, `s${i}`);
      if (why) {
        console.log(`s${i} could not be made ${streams[bi]}'s leader: ${why}`);
        continue;
      }
      for (const [id, els] of acked) {
        if (!id.startsWith(`${b}/`)) continue;
        const key = id.slice(b.length + 1);
        const m = await jsm.streams.getMessage(streams[bi]!, { last_by_subj: `$KV.${b}.${key}` }).catch(() => null);
        const have = new Set(m ? (JSON.parse(m.string()) as string[]) : []);
        for (const el of els) if (!have.has(el)) missing.push(`${id}:${el}`);
      }
    }
    lost += missing.length;
    console.log(`s${i}'s copies: ${missing.length ? `${missing.length} acknowledged elements MISSING (${missing.slice(0, 5).join(', ')})` : 'every acknowledged element present'}`);
  }
  console.log(`${oks} updates acknowledged, ${fails} failed or unknown, ${conflicts} conflicts`);
  code = diverged || lost > 0 ? 1 : 0;
} finally {
  stopped = true;
  for (const nc of conns) await nc.close().catch(() => undefined);
  await trio.stopAll();
  if (code === 0) rmSync(work, { recursive: true, force: true });
  else console.log(`stores kept in ${work}`);
}
process.exit(code);
