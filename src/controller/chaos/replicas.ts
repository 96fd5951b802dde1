// Every replica's copy, read after healing. JetStream answers reads at a
// stream's leader only, so a damaged follower copy never shows through the
// message API; here each copy is read through a reader of its own: an R1
// consumer in memory that nats-server placed on that replica, which
// delivers from that server's store. Made leader in turn and read one
// request per message, the copies of 10,000 rooms took 16-17 s; read so,
// a copy of 10,000 messages takes about 0.2 s and no leader moves.
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
import { createHash } from 'node:crypto';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerInfo, type JetStreamClient, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { BUCKETS, NONCE_STREAM } from '../../daemon/index.js';
import { sleep } from '../../util/time.js';
import type { ReplicaCopy, StreamCopies } from './copies.js';

export type { ReplicaCopy, StreamCopies } from './copies.js';

const KV_PREFIX = 'KV_';

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

/** Tries at placing a reader on one replica: nats-server places an R1 consumer at random among a stream's live replicas (measured on 2.15.1: 12 creations on a 3-node stream went 5/4/3), so 40 tries miss a live replica with odds (2/3)^40. */
export const PLACE_TRIES = 40;

/** How long an abandoned reader outlives its reading (nats-server deletes it then). */
const READER_IDLE_MS = 30_000;

/**
 * An R1 consumer in memory on `node`'s copy of `stream`: created, and deleted
 * again while nats-server placed it on another replica (bounded). `single`:
 * the stream has one replica, whose reader names no cluster leader.
 */
export async function placeReader(jsm: JetStreamManager, stream: string, node: string, single: boolean): Promise<ConsumerInfo> {
  for (let i = 0; i < PLACE_TRIES; i++) {
    const ci = await jsm.consumers.add(stream, { ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, num_replicas: 1, mem_storage: true, inactive_threshold: nanos(READER_IDLE_MS) });
    if (ci.cluster?.leader === node || (single && !ci.cluster?.leader)) return ci;
    await jsm.consumers.delete(stream, ci.name).catch(() => undefined);
  }
  throw new Error(`no reader was placed on ${node} in ${PLACE_TRIES} tries (not a live replica)`);
}

/** Messages asked of a reader at a time. */
const BATCH = 1000;
/** A batch not answered within this is a copy that stopped answering. */
const BATCH_MS = 10_000;
/**
 * What a copy that stopped answering is named by: its reader got nothing
 * more before the end it was made with (a bit-flipped block on disk, in
 * bench/repair-corrupt.ts). Read again it stops again, so it is judged at
 * once: neither tried again nor waited for (which made one such copy's
 * deep check take 62 s).
 */
const STOPPED = 'stopped answering';

/**
 * `node`'s copy of `stream`, read whole through a reader placed on it: every
 * message that copy holds, from its own store (a reader on a follower
 * answered all 10,000 messages of its copy with both other servers killed),
 * to the last it held when the reader was made (each message says how many
 * are left after it). Its count, first and last sequence are of the
 * messages read.
 */
async function readCopy(js: JetStreamClient, jsm: JetStreamManager, stream: string, node: string, single: boolean): Promise<ReplicaCopy> {
  const ci = await placeReader(jsm, stream, node, single);
  try {
    return await readThrough(js, stream, node, ci, jsm);
  } finally {
    await jsm.consumers.delete(stream, ci.name).catch(() => undefined);
  }
}

/** `node`'s copy as its reader `ci` delivers it, from the first message to the last it held when the reader was made (an empty copy: its sequences as the reader starts). */
export async function readThrough(js: JetStreamClient, stream: string, node: string, ci: ConsumerInfo, jsm?: JetStreamManager): Promise<ReplicaCopy> {
  const out: ReplicaCopy = { node, messages: 0, lastSeq: 0 };
  const h = stream === NONCE_STREAM ? undefined : createHash('sha256');
  const kv = stream.startsWith(KV_PREFIX) ? new Map<string, string>() : undefined;
  const prefix = `$KV.${stream.slice(KV_PREFIX.length)}.`;
  const reader = await js.consumers.get(stream, ci.name);
  for (let pending = ci.num_pending; pending > 0; ) {
    const batch = await reader.fetch({ max_messages: Math.min(pending, BATCH), expires: BATCH_MS });
    let got = 0;
    for await (const m of batch) {
      got++;
      pending = m.info.pending;
      out.messages++;
      out.firstSeq ??= m.seq;
      out.lastSeq = m.seq;
      h?.update(`${m.seq}\0${m.subject}\0`).update(m.data).update('\0');
      if (kv && m.subject.startsWith(prefix)) {
        const op = m.headers?.get('KV-Operation');
        const key = m.subject.slice(prefix.length);
        if (op === 'DEL' || op === 'PURGE') kv.delete(key);
        else kv.set(key, new TextDecoder().decode(m.data));
      }
      if (pending === 0) break;
    }
    if (!got) {
      // A reader gone with its server (a restart while it read) is tried again; one still there that delivers nothing is the copy.
      const still = jsm ? await jsm.consumers.info(stream, ci.name).then(() => true, () => false) : true;
      throw new Error(still ? `${node}'s copy ${STOPPED} after ${out.messages} messages` : `${node}'s reader was lost after ${out.messages} messages`);
    }
  }
  // An empty copy's sequences as STREAM.INFO gives an emptied stream's (first = last + 1): a reader made
  // to deliver all starts past the copy's first sequence less one (measured: purged after 5, it says 5).
  if (!out.messages) (out.firstSeq = ci.delivered.stream_seq + 1), (out.lastSeq = ci.delivered.stream_seq);
  if (h) out.digest = h.digest('hex');
  if (kv && h) out.kv = kv;
  return out;
}

/** Tries at one replica's copy (a reader's answer lost to an election, or a batch that timed out). */
export const READ_TRIES = 3;

/** Rounds of reading one stream's copies, when the stream was written to during a round. */
export const READ_ROUNDS = 3;

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
 * read; a round with writes is read again, up to READ_ROUNDS times, and a
 * stream written to in every round is named in `unread` with each copy's
 * last sequence (a copy that could not be compared) rather than as
 * diverged. Copies that differ at rest are read again (SETTLE_MS apart, for
 * SETTLE_MAX_MS at most): a follower just current may still be applying
 * entries it holds; a copy that grew so keeps the last sequence it was
 * first read at (firstAnswered). Streams are read side by side.
 */
export async function readAllReplicas(nc: NatsConnection, streams: string[], rounds = READ_ROUNDS): Promise<StreamCopies[]> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const js = jetstream(nc, { timeout: 5000 });
  return Promise.all(streams.map((stream) => readStream(js, jsm, stream, rounds)));
}

/** One stream's copies, read in rounds until one had no write while it was read (READ_ROUNDS at most) and its copies agree or settled. */
async function readStream(js: JetStreamClient, jsm: JetStreamManager, stream: string, rounds: number): Promise<StreamCopies> {
  const firstRead = new Map<string, number>();
  const settleUntil = Date.now() + SETTLE_MAX_MS;
  let s: StreamCopies;
  for (let written = 0; ; ) {
    const r = await readRound(js, jsm, stream);
    s = r.s;
    // The nonce stream is not compared (copies.ts): read once.
    if (stream === NONCE_STREAM) break;
    if (r.written) {
      if (++written < rounds) continue;
      s = { stream, copies: [], unread: [...s.unread, { node: '*', why: `written to during each of ${rounds} rounds of reading its copies (last round: ${lastSeqs(s)})` }] };
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
