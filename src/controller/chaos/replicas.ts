// Every replica's copy, read after healing. JetStream answers reads at a
// stream's leader only, so a damaged follower copy never shows through the
// message API; here each copy is read through a reader of its own placed on
// that replica (src/daemon/nats/copy-reader.ts). Made leader in turn and
// read one request per message, the copies of 10,000 rooms took 16-17 s;
// read so, a copy of 10,000 messages takes about 0.2 s and no leader moves.
//
// What a copy is: for each control-plane stream, its message count, first
// and last sequence and a digest over every message (sequence, subject,
// data); for a KV bucket, its latest value per key as well. The nonce
// stream, short-lived, is counted, not compared.
//
// Invariants:
// - Nothing stored is written: a reader is made and deleted per copy (and
//   expires by itself when its deletion is lost). The leader moves
//   (moveLeader, for play repair) change who leads, never what is stored.
// - Every wait is bounded (per placement, per batch, per election).
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { BUCKETS, NONCE_STREAM, readCopy, STOPPED } from '../../daemon/index.js';
import { sleep } from '../../util/time.js';
import type { ReplicaCopy, StreamCopies } from './copies.js';

export type { ReplicaCopy, StreamCopies } from './copies.js';
export { placeReader, readThrough } from '../../daemon/index.js';

/** The copies as read, in the run's folder beside check.json. */
export const REPLICAS_FILE = 'replicas.json';

async function leaderOf(jsm: JetStreamManager, stream: string): Promise<{ leader: string | null; replicas: string[]; current: Set<string> }> {
  return placementOf(await jsm.streams.info(stream));
}

/** Who leads a stream, its replicas (the leader first) and the followers that are current, from one STREAM.INFO answer. */
function placementOf(si: StreamInfo): { leader: string | null; replicas: string[]; current: Set<string> } {
  const c = si.cluster;
  const followers = c?.replicas ?? [];
  return {
    leader: c?.leader ?? null,
    replicas: [c?.leader, ...followers.map((r) => r.name)].filter((x): x is string => !!x),
    current: new Set(followers.filter((r) => r.current && !r.offline).map((r) => r.name)),
  };
}

/** Who leads `stream`, or why STREAM.INFO went unanswered (a node restarting to rebuild its copy, an election): a try of its own, never the end of a move. */
async function askLeader(jsm: JetStreamManager, stream: string): Promise<Awaited<ReturnType<typeof leaderOf>> | Error> {
  return leaderOf(jsm, stream).catch((e: Error) => e);
}

/**
 * Steps the leader down until `node` leads `stream`: the new leader is
 * elected among the current followers at random, so this takes a few
 * rounds; a follower that is not current yet is waited for first. Bounded:
 * `tries` step-downs or unanswered asks (500 ms apart), each election
 * waited for at most 10 s. Returns why not, or null once `node` leads.
 */
export async function moveLeader(nc: NatsConnection, jsm: JetStreamManager, stream: string, node: string, tries = 20): Promise<string | null> {
  let why = 'no step-down tried';
  for (let i = 0; i < tries; i++) {
    const s = await askLeader(jsm, stream);
    if (s instanceof Error || !s.current.has(node)) {
      if (!(s instanceof Error) && s.leader === node) return null;
      why = s instanceof Error ? `stream info: ${s.message}` : `${node} is not a current replica`;
      await sleep(500);
      continue;
    }
    if (s.leader === node) return null;
    if (s.leader) why = (await stepDown(nc, jsm, stream, s.leader)) ?? 'another replica was elected each time';
    else await stepDown(nc, jsm, stream, null);
  }
  const s = await askLeader(jsm, stream);
  return !(s instanceof Error) && s.leader === node ? null : `never became leader in ${tries} tries (${s instanceof Error ? `stream info: ${s.message}` : why})`;
}

/** Steps `node` down from leading `stream`, if it leads it (bounded as moveLeader): null once another replica leads, or why not. */
export async function moveLeaderAway(nc: NatsConnection, jsm: JetStreamManager, stream: string, node: string, tries = 5): Promise<string | null> {
  let why = 'no step-down tried';
  for (let i = 0; i < tries; i++) {
    const s = await askLeader(jsm, stream);
    if (s instanceof Error) {
      why = `stream info: ${s.message}`;
      await sleep(500);
      continue;
    }
    if (s.leader && s.leader !== node) return null;
    why = (s.leader ? await stepDown(nc, jsm, stream, s.leader) : (await stepDown(nc, jsm, stream, null), 'no leader')) ?? 'elected again';
  }
  const s = await askLeader(jsm, stream);
  return !(s instanceof Error) && s.leader && s.leader !== node ? null : `${node} still leads ${stream} after ${tries} tries (${s instanceof Error ? `stream info: ${s.message}` : why})`;
}

/** One step-down of `leader` (none when null: the election is only waited for); waits (10 s at most) for another leader. Returns why it was refused, or null. */
async function stepDown(nc: NatsConnection, jsm: JetStreamManager, stream: string, leader: string | null): Promise<string | null> {
  let why: string | null = null;
  if (leader) {
    const reply = await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 5000 }).catch((e: Error) => e);
    if (reply instanceof Error) why = `step-down: ${reply.message}`;
    else {
      const r = reply.json<{ success?: boolean; error?: { description?: string } }>();
      if (!r.success) why = `step-down refused: ${r.error?.description ?? JSON.stringify(r)}`;
    }
  }
  // An election takes a few hundred ms; wait (bounded) for a new leader.
  const until = Date.now() + 10_000;
  for (;;) {
    await sleep(250);
    const now = await leaderOf(jsm, stream).catch(() => null);
    if ((now?.leader && now.leader !== leader) || Date.now() > until) break;
  }
  return why;
}

/** Tries at one replica's copy (a reader's answer lost to an election, or a batch that timed out). */
export const READ_TRIES = 3;

/** Rounds of reading one stream's copies at least, when the stream was written to during a round... */
export const READ_ROUNDS = 3;
/**
 * ... and, where the caller asks (the chaos check, after its workload
 * stopped), for how long rounds with writes are read again, waiting for a
 * quiet one. The daemons' repair sweep writes to rooms_by_member after a
 * workload stops (kill family, seed 311, 2.15.1: three rounds each met one
 * of its repairs, and the copies went uncompared though the last round read
 * all three at 5,204); a sweep's repairs end within seconds. Not the
 * default: `play verify` and `play repair` under live writes would wait
 * out 20 s per stream for nothing.
 */
export const QUIET_MAX_MS = 20_000;
/** The pause between two rounds with writes. */
const QUIET_STEP_MS = 250;

/** A follower not current yet is waited for this long before its copy is read as it is. */
export const CURRENT_WAIT_MS = 10_000;

/** Copies that differ at rest are read again after this... */
export const SETTLE_MS = 500;
/** ... until they agree or this has gone by (then they are judged as they are). */
export const SETTLE_MAX_MS = 15_000;

interface Round {
  s: StreamCopies;
  /** The leader's last sequence moved while the copies were read. */
  written: boolean;
}

/** One copy: its replica waited for until current (bounded), then read (READ_TRIES). */
async function readReplica(js: JetStreamClient, jsm: JetStreamManager, stream: string, node: string, single: boolean): Promise<ReplicaCopy | string> {
  for (const until = Date.now() + CURRENT_WAIT_MS; Date.now() < until; await sleep(250)) {
    const s = await leaderOf(jsm, stream).catch(() => null);
    if (s && (s.leader === node || s.current.has(node))) break;
  }
  let why = 'not tried';
  for (let i = 0; i < READ_TRIES; i++) {
    try {
      return await readCopy(js, jsm, stream, node, single);
    } catch (e) {
      why = (e as Error).message;
      if (why.includes(STOPPED)) break;
    }
  }
  return why;
}

/** One round: every replica read side by side, the leader's last sequence asked before and after. */
async function readRound(js: JetStreamClient, jsm: JetStreamManager, stream: string): Promise<Round> {
  const before = await jsm.streams.info(stream);
  const { replicas: nodes } = placementOf(before);
  const read = await Promise.all(nodes.map((node) => readReplica(js, jsm, stream, node, nodes.length === 1)));
  const s: StreamCopies = { stream, copies: [], unread: [] };
  read.forEach((r, i) => (typeof r === 'string' ? s.unread.push({ node: nodes[i]!, why: r }) : s.copies.push(r)));
  const after = await jsm.streams.info(stream).catch(() => null);
  return { s, written: after?.state.last_seq !== before.state.last_seq };
}

/** Each copy's last sequence as read, for a report: "node1 5128, node2 4425". */
const lastSeqs = (s: StreamCopies) => s.copies.map((c) => `${c.node} ${c.lastSeq}`).join(', ');

/**
 * Each replica of each stream, read from its own store by a reader placed
 * on it (no leader moves: nothing in the cluster changes but a consumer
 * made and deleted per copy). The daemons still write after a workload
 * stops (the repair sweep finishing half-done writes), so a round is judged
 * only when the leader's last sequence did not move while its copies were
 * read; a round with writes is read again (READ_ROUNDS times at least,
 * for o.quietMs at most), and a
 * stream written to in every round is named in `unread` with each copy's
 * last sequence (a copy that could not be compared) rather than as
 * diverged. Copies that differ at rest are read again (SETTLE_MS apart, for
 * SETTLE_MAX_MS at most): a follower just current may still be applying
 * entries it holds; a copy that grew so keeps the last sequence it was
 * first read at (firstAnswered). Streams are read side by side.
 */
export async function readAllReplicas(nc: NatsConnection, streams: string[], o: { rounds?: number; quietMs?: number } = {}): Promise<StreamCopies[]> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const js = jetstream(nc, { timeout: 5000 });
  return Promise.all(streams.map((stream) => readStream(js, jsm, stream, o.rounds ?? READ_ROUNDS, o.quietMs ?? 0)));
}

/** One stream's copies, read in rounds until one had no write while it was read (`rounds` at least, for `quietMs` at most) and its copies agree or settled. */
async function readStream(js: JetStreamClient, jsm: JetStreamManager, stream: string, rounds: number, quietMs: number): Promise<StreamCopies> {
  const t0 = Date.now();
  const firstRead = new Map<string, number>();
  const settleUntil = Date.now() + SETTLE_MAX_MS;
  let s: StreamCopies;
  for (let written = 0; ; ) {
    const r = await readRound(js, jsm, stream);
    s = r.s;
    // The nonce stream is not compared (copies.ts): read once.
    if (stream === NONCE_STREAM) break;
    if (r.written) {
      if (++written < rounds || Date.now() - t0 < quietMs) {
        await sleep(QUIET_STEP_MS);
        continue;
      }
      s = { stream, copies: [], unread: [...s.unread, { node: '*', why: `written to during each of ${written} rounds of reading its copies, over ${((Date.now() - t0) / 1000).toFixed(1)} s (last round: ${lastSeqs(s)})` }] };
      break;
    }
    for (const c of s.copies) if (!firstRead.has(c.node)) firstRead.set(c.node, c.lastSeq);
    const agree = s.copies.every((c) => c.lastSeq === s.copies[0]!.lastSeq && c.digest === s.copies[0]!.digest);
    // A copy that could not be placed on may be read once its server is back; one that stopped answering will not be.
    const waitable = s.unread.some((u) => !u.why.includes(STOPPED));
    if ((agree && !waitable) || Date.now() + SETTLE_MS > settleUntil) break;
    await sleep(SETTLE_MS);
  }
  for (const c of s.copies) {
    const first = firstRead.get(c.node);
    if (first !== undefined && first !== c.lastSeq) c.firstAnswered = first;
  }
  s.copies.sort((a, b) => a.node.localeCompare(b.node));
  return s;
}

/** The control-plane buckets' stream names, as readAllReplicas takes them. */
export const REPLICA_STREAMS = [`KV_${BUCKETS.users}`, `KV_${BUCKETS.rooms}`, `KV_${BUCKETS.members}`, `KV_${BUCKETS.roomsByMember}`, NONCE_STREAM];
