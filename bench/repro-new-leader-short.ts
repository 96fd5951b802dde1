// Minimal reproduction, nats-server alone (no membershipd), on loopback: what
// a stream's STREAM.INFO answers right after a leader change, against what
// was acknowledged before it.
//
//   1. three nats-servers (127.0.0.94-96, no TLS, no auth), stream REPRO
//      (R3, file, subjects repro.>, one message per subject as a KV bucket)
//   2. ROUNDS times: BURST messages published at once and all acknowledged
//      (the highest acknowledged sequence noted), then the leader made to
//      go: stepped down (MODE=stepdown, default) or its server killed with
//      SIGKILL (MODE=kill, started again after the round); STREAM.INFO asked
//      every 20 ms until IDLE_MS after the new leader's first answer,
//      nothing written
//   3. each answer judged: from the new leader (cluster.leader set), or from
//      a replica that sees no leader (cluster.leader empty, which nats-server
//      answers with its own state); short when its last sequence is below
//      the highest acknowledged one
//   4. then one message written, and STREAM.INFO asked once more
// Prints the version, per round whether the new leader answered short and
// for how long (still short after IDLE_MS with nothing written: it catches up
// only with the next write), and the short answers of leaderless replicas.
// Exit 1 when any answer was short.
// Run by hand: node --import tsx bench/repro-new-leader-short.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { sleep } from '../src/util/time.js';
import { addStream, NatsTrio, serverVersion } from './lib/nats-trio.js';

const ROUNDS = Number(process.env.ROUNDS ?? 30);
const BURST = Number(process.env.BURST ?? 20);
const IDLE_MS = Number(process.env.IDLE_MS ?? 3000);
const MODE = process.env.MODE === 'kill' ? 'kill' : 'stepdown';
/** How long a round waits for a new leader at most (a killed leader's successor: election timeout 4-9 s). */
const ELECT_MS = 20_000;
const work = mkdtempSync(join(tmpdir(), 'unibus-repro-leader-'));
const trio = new NatsTrio(['127.0.0.94', '127.0.0.95', '127.0.0.96'], work, { client: 4334, route: 6334 });

const version = serverVersion();
let nc: NatsConnection | undefined;
let code = 0;
try {
  const up = await trio.up();
  nc = up.nc;
  const jsm = up.jsm;
  await addStream(jsm, { name: 'REPRO', subjects: ['repro.>'], num_replicas: 3, max_msgs_per_subject: 1, allow_direct: false });
  const js = jetstream(nc, { timeout: 5000 });
  let shortRounds = 0;
  let stuckRounds = 0;
  let leaderless = 0;
  let leaderlessShort = 0;
  let elected = 0;
  for (let r = 0; r < ROUNDS; r++) {
    // The leader is asked before the burst, so that it goes right after the last acknowledgement.
    const before = (await jsm.streams.info('REPRO')).cluster?.leader;
    const acks = await Promise.all(Array.from({ length: BURST }, (_, i) => js.publish(`repro.k.${i % 10}`, `r${r}-${i}`)));
    const acked = Math.max(...acks.map((a) => a.seq));
    const gone = Number(before?.slice(1));
    if (MODE === 'kill') trio.procs[gone]?.kill('SIGKILL');
    else await nc.request('$JS.API.STREAM.LEADER.STEPDOWN.REPRO', undefined, { timeout: 5000 }).catch(() => null);
    let t0 = Date.now();
    const bound = t0 + ELECT_MS;
    let newLeader: string | undefined;
    let firstShort: number | null = null;
    let lastShortAt = -1;
    let lastSeen = 0;
    while (Date.now() - t0 < IDLE_MS || (!newLeader && Date.now() < bound)) {
      const si = await jsm.streams.info('REPRO').catch(() => null);
      await sleep(20);
      if (!si) continue;
      const l = si.cluster?.leader;
      if (!l) {
        leaderless++;
        if (si.state.last_seq < acked) leaderlessShort++;
        continue;
      }
      if (l === before) continue;
      if (!newLeader) t0 = Date.now();
      newLeader = l;
      lastSeen = si.state.last_seq;
      if (si.state.last_seq < acked) {
        firstShort ??= si.state.last_seq;
        lastShortAt = Date.now() - t0;
      }
    }
    if (newLeader) elected++;
    const after = await js.publish('repro.after', `r${r}`).then((a) => a.seq, () => null);
    if (MODE === 'kill') {
      await trio.stop(gone);
      trio.start(gone);
      // Back as a current follower before the next round (bounded).
      for (const until = Date.now() + ELECT_MS; Date.now() < until; await sleep(250)) {
        const c = (await jsm.streams.info('REPRO').catch(() => null))?.cluster;
        if (c?.replicas?.some((x) => x.name === before && x.current)) break;
      }
    }
    const si = await jsm.streams.info('REPRO').catch(() => null);
    const stuck = firstShort !== null && lastSeen < acked;
    if (firstShort !== null) shortRounds++;
    if (stuck) stuckRounds++;
    console.log(`round ${r + 1}: acked up to ${acked}; leader ${before} -> ${newLeader ?? 'none seen'}; ${firstShort === null ? 'never short' : `answered ${firstShort} (short by ${acked - firstShort}), ${stuck ? `still short after ${IDLE_MS} ms idle` : `caught up after ${lastShortAt} ms`}`}; after one write (seq ${after}): last seq ${si?.state.last_seq}`);
  }
  console.log(`${version}: ${ROUNDS} ${MODE === 'kill' ? 'leaders killed' : 'step-downs'} (${elected} new leaders seen); the new leader answered short in ${shortRounds}, still short after ${IDLE_MS} ms idle in ${stuckRounds}; leaderless replicas answered ${leaderless} times, ${leaderlessShort} of them short`);
  code = shortRounds > 0 || leaderlessShort > 0 ? 1 : 0;
} finally {
  await nc?.close().catch(() => undefined);
  await trio.stopAll();
  rmSync(work, { recursive: true, force: true });
}
process.exit(code);
