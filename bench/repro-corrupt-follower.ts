// Minimal reproduction, nats-server alone (no membershipd), on loopback: a
// follower whose copy of an R3 file stream was damaged on disk while it was
// stopped (the last message block truncated to half, or 8 bytes inverted),
// started again and made the stream's leader. What the chaos play's
// corrupt-minority fault does, without anything of unibus around it.
//
//   1. three nats-servers (127.0.0.91-93, no TLS, no auth), stream REPRO
//      (R3, file, subjects repro.>), N messages on repro.k.<i % 100>
//   2. a follower F stopped (SIGTERM, waited for), its last block of REPRO
//      damaged (HOW=truncate|bitflip, default bitflip), F started again
//   3. F's /healthz watched (bounded); REPRO's leader stepped down until F
//      leads (bounded); N more messages published; the stream read back in
//      full at its leader: every acknowledged message there?
// Prints the version, what was damaged, how long F took to be healthy (or
// that it never was within the bound), whether F became the leader, and the
// messages missing. Exit 1 when F never became healthy or a message was lost.
// KEYS=K writes the messages on K subjects (100); PER_SUBJECT=1 keeps one
// message per subject, as a KV bucket does: the second N then go to subjects
// of their own, and every first-phase subject's last value is read back at
// the leader (a KV key's acknowledged value lost). The replica audit's
// verdict on F's copy (judgeCopy, as membershipd judges it) is printed.
// REPAIR=1 first moves F's copy aside (its stream folder and raft group, F
// stopped), as membershipd's replica audit does, and waits for F to hold the
// leader's count again before the step-downs.
// WAIT_S=S waits S seconds after the writes before the stop: nats-server
// 2.15.1 compacts a stream's raft log on its own timer, and on a fresh
// stream the follower filled its cut copy back from that log.
// Run by hand: HOW=bitflip node --import tsx bench/repro-corrupt-follower.ts
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { sleep } from '../src/util/time.js';
import { judgeCopy } from '../src/daemon/nats/replica-audit.js';
import { addStream, NatsTrio, serverVersion } from './lib/nats-trio.js';
import { damageBlock } from '../test/harness/damage.js';

const HOW = process.env.HOW === 'truncate' ? 'truncate' : 'bitflip';
const N = Number(process.env.N ?? 2000);
const KEYS = Number(process.env.KEYS ?? 100);
const PER_SUBJECT = process.env.PER_SUBJECT ? Number(process.env.PER_SUBJECT) : undefined;
const BOUND_S = Number(process.env.BOUND_S ?? 90);
const WAIT_S = Number(process.env.WAIT_S ?? 0);
const IPS = ['127.0.0.91', '127.0.0.92', '127.0.0.93'];
const work = mkdtempSync(join(tmpdir(), 'unibus-repro-corrupt-'));
const trio = new NatsTrio(IPS, work, { client: 4333, route: 6333, http: 8333 });
const start = (i: number) => trio.start(i);
const stop = (i: number) => trio.stop(i);
const procs = trio.procs;

async function healthy(i: number): Promise<boolean> {
  const r = await fetch(`http://${IPS[i]}:8333/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
  return r?.status === 200;
}

const version = serverVersion();
let nc: NatsConnection | undefined;
let code = 0;
try {
  const trioUp = await trio.up();
  nc = trioUp.nc;
  const jsm = trioUp.jsm;
  await addStream(jsm, { name: 'REPRO', subjects: ['repro.>'], num_replicas: 3, allow_direct: false, ...(PER_SUBJECT ? { max_msgs_per_subject: PER_SUBJECT } : {}) });
  const js = jetstream(nc, { timeout: 5000 });
  for (let i = 0; i < N; i++) await js.publish(`repro.k.${i % KEYS}`, `v${i}`);
  if (WAIT_S) {
    console.log(`waiting ${WAIT_S} s before the stop`);
    await sleep(WAIT_S * 1000);
  }
  let info = await jsm.streams.info('REPRO');
  const leader = info.cluster!.leader!;
  const f = [0, 1, 2].find((i) => `s${i}` !== leader && info.cluster!.replicas!.some((r) => r.name === `s${i}` && r.current))!;
  console.log(`${version}; REPRO: ${info.state.messages} messages, leader ${leader}; damaging s${f}'s copy (${HOW})`);
  await stop(f);
  const msgs = join(work, `s${f}`, 'jetstream', '$G', 'streams', 'REPRO', 'msgs');
  const blocks = readdirSync(msgs).filter((x) => x.endsWith('.blk')).sort((a, b) => parseInt(a) - parseInt(b));
  const last = join(msgs, blocks.at(-1)!);
  const size = damageBlock(last, HOW);
  console.log(`${HOW} ${last} (${size} bytes)`);
  const t0 = Date.now();
  start(f);
  let up: number | null = null;
  while (Date.now() - t0 < BOUND_S * 1000) {
    if (await healthy(f)) {
      up = Date.now() - t0;
      break;
    }
    await sleep(500);
  }
  console.log(up === null ? `s${f} NOT healthy within ${BOUND_S} s of its start` : `s${f} healthy ${(up / 1000).toFixed(1)} s after its start`);
  // What F's own monitor says of its copy, against the leader's answer: the replica audit's evidence.
  const ownCopy = async () => {
    const j = (await fetch(`http://${IPS[f]}:8333/jsz?streams=true`, { signal: AbortSignal.timeout(2000) }).then((r) => r.json(), () => null)) as { account_details?: { stream_detail?: { name: string; state: { messages: number; first_seq: number; last_seq: number }; cluster?: { raft_group?: string } }[] }[] } | null;
    return j?.account_details?.flatMap((a) => a.stream_detail ?? []).find((x) => x.name === 'REPRO');
  };
  await sleep(1000);
  const seen = await ownCopy();
  const li = await jsm.streams.info('REPRO');
  console.log(`s${f}'s own copy: ${seen?.state.messages} messages, seq ${seen?.state.first_seq}..${seen?.state.last_seq}; the leader's (${li.cluster?.leader}): ${li.state.messages}, seq ${li.state.first_seq}..${li.state.last_seq}`);
  const view = { leader: li.cluster?.leader, state: li.state, replicas: li.cluster?.replicas ?? [], expires: (li.config.max_age ?? 0) > 0 };
  const verdict = judgeCopy(`s${f}`, view, seen && { stream: 'REPRO', account: '$G', state: seen.state }, view);
  console.log(`the replica audit's verdict on s${f}'s copy: ${verdict.kind}${'why' in verdict ? ` (${verdict.why})` : ''}`);
  if (process.env.REPAIR === '1') {
    // As membershipd's replica audit does: the copy and its raft state moved aside while stopped; F rejoins empty.
    await stop(f);
    const aside = join(work, 'quarantine');
    mkdirSync(aside, { recursive: true });
    renameSync(join(work, `s${f}`, 'jetstream', '$G', 'streams', 'REPRO'), join(aside, 'stream'));
    if (seen?.cluster?.raft_group) renameSync(join(work, `s${f}`, 'jetstream', '$SYS', '_js_', seen.cluster.raft_group), join(aside, 'raft'));
    const t2 = Date.now();
    start(f);
    let back = await ownCopy();
    while (Date.now() - t2 < BOUND_S * 1000 && back?.state.messages !== li.state.messages) {
      await sleep(250);
      back = await ownCopy();
    }
    console.log(`moved aside and started again: s${f}'s copy holds ${back?.state.messages ?? '?'} messages ${((Date.now() - t2) / 1000).toFixed(1)} s after its start`);
  }
  let leads = false;
  for (let t = 0; t < 20 && !leads; t++) {
    info = await jsm.streams.info('REPRO');
    leads = info.cluster?.leader === `s${f}`;
    if (!leads) {
      await nc.request('$JS.API.STREAM.LEADER.STEPDOWN.REPRO', undefined, { timeout: 5000 }).catch(() => null);
      await sleep(2000);
    }
  }
  console.log(leads ? `s${f} leads REPRO` : `s${f} never became REPRO's leader in 20 step-downs`);
  let acked = N;
  for (let i = N; i < 2 * N; i++) if (await js.publish(PER_SUBJECT ? `repro.n.${i}` : `repro.k.${i % KEYS}`, `v${i}`).then(() => true, () => false)) acked++;
  info = await jsm.streams.info('REPRO');
  let missing = acked - info.state.messages;
  if (PER_SUBJECT) {
    // Each first-phase subject's last acknowledged value, read at the leader.
    missing = 0;
    for (let k = 0; k < Math.min(KEYS, N); k++) {
      const want = `v${N - 1 - ((N - 1 - k) % KEYS)}`;
      const got = await jsm.streams.getMessage('REPRO', { last_by_subj: `repro.k.${k}` }).then((m) => m?.string() ?? null, () => null);
      if (got !== want) missing++;
    }
  }
  const what = PER_SUBJECT ? ` subjects' last values of ${Math.min(KEYS, N)}` : '';
  console.log(`acknowledged ${acked}; the leader (${info.cluster?.leader}) holds ${info.state.messages} (last seq ${info.state.last_seq}): ${missing > 0 ? `${missing}${what} MISSING` : 'none missing'}`);
  // The damaged node afterwards: does it come (back) to health, and does its own copy hold what the leader holds?
  const t1 = Date.now();
  let still = false;
  while (!still && Date.now() - t1 < BOUND_S * 1000) {
    still = await healthy(f);
    if (!still) await sleep(2000);
  }
  const body = await fetch(`http://${IPS[f]}:8333/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.text(), (e: Error) => e.message);
  const jsz = await fetch(`http://${IPS[f]}:8333/jsz?streams=true`, { signal: AbortSignal.timeout(2000) }).then((r) => r.json() as Promise<{ meta_cluster?: unknown; account_details?: { stream_detail?: { name: string; state: { messages: number; last_seq: number } }[] }[] }>, () => null);
  const own = jsz?.account_details?.flatMap((a) => a.stream_detail ?? []).find((x) => x.name === 'REPRO');
  console.log(`s${f} /healthz ${still ? `ok ${((Date.now() - t1) / 1000).toFixed(1)} s after the writes` : `NOT ok ${BOUND_S} s after the writes: ${body.trim().slice(0, 200)}`}`);
  const ps = procs[f]?.pid ? spawnSync('ps', ['-o', 'stat=,time=,rss=', '-p', String(procs[f]!.pid)], { encoding: 'utf8' }).stdout.trim() : 'gone';
  console.log(`s${f}'s process: ${ps || 'gone'} (state, cpu time, rss KiB)`);
  console.log(`s${f}'s own copy: ${own ? `${own.state.messages} messages, last seq ${own.state.last_seq}` : 'not reported'}; meta: ${JSON.stringify(jsz?.meta_cluster ?? null).slice(0, 200)}`);
  code = up === null || missing > 0 || !still ? 1 : 0;
} finally {
  await nc?.close().catch(() => undefined);
  await trio.stopAll();
  rmSync(work, { recursive: true, force: true });
}
process.exit(code);
