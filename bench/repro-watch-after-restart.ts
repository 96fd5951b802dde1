// Minimal reproduction, nats-server alone (no membershipd), on loopback: does
// a KV watch made on a server that has just come back from kill -9 see every
// update, as membershipd's followed copies (store/follow.ts) need?
//
//   1. three nats-servers (127.0.0.91-93, no TLS, no auth), KV bucket W (R3,
//      file, history 1), KEYS keys written in a loop by a writer connected
//      to the two other servers (each key's value counts up)
//   2. ROUNDS times: one server (in turn) killed with SIGKILL, writes go on
//      for DOWN_MS, it is started again; at once a client connected to it
//      alone makes a watch (last value per key, then every update), as
//      membershipd does on its start; writes go on for AFTER_MS
//   3. writes stop; once the watch has seen the stream's last sequence (10 s
//      bound), each key's value in the watch is compared with the leader's
//      (kv.get through the writer)
// Prints the version and, per round, the keys whose watched value is behind
// the leader's: still to come (the watch stalled) or missed (the watch went
// past the update without delivering it). Exit 1 when any round missed one.
// Run by hand: node --import tsx bench/repro-watch-after-restart.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { sleep } from '../src/util/time.js';
import { NatsTrio, serverVersion } from './lib/nats-trio.js';

const ROUNDS = Number(process.env.ROUNDS ?? 9);
const KEYS = Number(process.env.KEYS ?? 200);
const DOWN_MS = Number(process.env.DOWN_MS ?? 5000);
const AFTER_MS = Number(process.env.AFTER_MS ?? 5000);
/** How long after the start the watch is made (membershipd makes it once its node is ready: 1-3 s). */
const WATCH_AFTER_MS = Number(process.env.WATCH_AFTER_MS ?? 1500);
const ips = ['127.0.0.91', '127.0.0.92', '127.0.0.93'];
const port = 4338;
const work = mkdtempSync(join(tmpdir(), 'unibus-repro-watch-'));
const trio = new NatsTrio(ips, work, { client: port, route: 6338 });
const version = serverVersion();

let writer: NatsConnection | undefined;
let bad = 0;
let stalled = 0;
try {
  const up = await trio.up();
  writer = up.nc;
  const kvm = new Kvm(jetstream(writer, { timeout: 2000 }));
  let kv: KV | undefined;
  for (let t = 0; !kv; t++) {
    kv = await kvm.create('W', { replicas: 3, history: 1 }).catch(async (e: Error) => {
      if (t > 60) throw e;
      await sleep(500);
      return undefined;
    });
  }
  const bucket = kv;
  let writing = true;
  let n = 0;
  const write = async () => {
    while (writing) {
      const k = `k${n % KEYS}`;
      await bucket.put(k, String(n)).then(() => n++, () => sleep(50));
    }
  };
  let loop = write();
  for (let r = 0; r < ROUNDS; r++) {
    const i = r % 3;
    trio.procs[i]!.kill('SIGKILL');
    trio.procs[i] = null;
    await sleep(DOWN_MS);
    trio.start(i);
    await sleep(WATCH_AFTER_MS);
    const nc = await connect({ servers: `nats://${ips[i]}:${port}`, timeout: 5000, reconnect: true, maxReconnectAttempts: -1, waitOnFirstConnect: true });
    // A watch as membershipd makes it at start, through the restarted server; asked again while JetStream there is not ready.
    const seen = new Map<string, { rev: number; value: string }>();
    let top = 0;
    const wkv = await (async () => {
      for (let t = 0; ; t++) {
        try {
          const w = await new Kvm(jetstream(nc, { timeout: 2000 })).open('W', { timeout: 2000 });
          const it = await w.watch();
          return { w, it };
        } catch (e) {
          if (t > 120) throw e;
          await sleep(250);
        }
      }
    })();
    void (async () => {
      for await (const e of wkv.it) {
        seen.set(e.key, { rev: e.revision, value: e.string() });
        if (e.revision > top) top = e.revision;
      }
    })();
    await sleep(AFTER_MS);
    writing = false;
    await loop;
    const jsm = await jetstreamManager(writer, { timeout: 5000 });
    const last = (await jsm.streams.info('KV_W')).state.last_seq;
    for (const until = Date.now() + 10_000; top < last && Date.now() < until; ) await sleep(100);
    // Behind: the watch has not got that far (a stall, which membershipd's
    // liveness check mends by watching again from the next sequence).
    // Missed: the watch went past the key's last update without it (nothing
    // mends that: the next watch starts after it).
    const behind: string[] = [];
    const missed: string[] = [];
    for (let k = 0; k < KEYS; k++) {
      const e = await bucket.get(`k${k}`);
      const s = seen.get(`k${k}`);
      if (!e || (s && s.rev >= e.revision)) continue;
      (top >= e.revision ? missed : behind).push(`k${k} (watch rev ${s?.rev ?? 'none'}, leader rev ${e.revision})`);
    }
    if (missed.length) bad++;
    if (behind.length) stalled++;
    console.log(`round ${r + 1}: s${i} killed and back; watch through it reached ${top} of ${last}; keys behind ${behind.length}, missed ${missed.length}${missed.length ? ` e.g. ${missed.slice(0, 3).join(', ')}` : ''}`);
    wkv.it.stop();
    await nc.close().catch(() => {});
    writing = true;
    loop = write();
  }
  writing = false;
  await loop;
  console.log(`nats-server ${version}, watch ${WATCH_AFTER_MS} ms after the start: in ${ROUNDS} rounds, ${stalled} watches stalled behind the stream, ${bad} went past an update they never delivered`);
} finally {
  await writer?.close().catch(() => {});
  await trio.stopAll();
  rmSync(work, { recursive: true, force: true });
}
process.exit(bad ? 1 : 0);
