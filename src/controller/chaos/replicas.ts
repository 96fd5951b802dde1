// Every replica's copy, read after healing. JetStream answers reads at a
// stream's leader only, so a damaged follower copy never shows through the
// API; here each replica is made leader in turn (a leader step-down until
// the wanted one is elected, bounded) and the stream is read there in full.
//
// What a copy is: for each control-plane stream, its message count, last
// sequence and a digest over every message (sequence, subject, data); for a
// KV bucket, its latest value per key as well. The nonce stream, large and
// short-lived, is compared by count and last sequence only.
//
// Invariants:
// - Nothing is written: a step-down changes who leads, never what is stored.
// - Every wait is bounded (per step-down, per election, per read).
import { createHash } from 'node:crypto';
import { JetStreamApiError, jetstreamManager, type JetStreamManager, type MsgRequest, type StoredMsg, type StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { BUCKETS, NONCE_STREAM } from '../../daemon/index.js';
import { sleep } from '../../util/time.js';
import type { ReplicaCopy, StreamCopies } from './copies.js';

export type { ReplicaCopy, StreamCopies } from './copies.js';

const KV_PREFIX = 'KV_';

/** The copies as read, in the run's folder beside check.json. */
export const REPLICAS_FILE = 'replicas.json';

async function leaderOf(jsm: JetStreamManager, stream: string): Promise<{ leader: string | null; replicas: string[]; current: Set<string> }> {
  const si = await jsm.streams.info(stream);
  const c = si.cluster;
  const followers = c?.replicas ?? [];
  return {
    leader: c?.leader ?? null,
    replicas: [c?.leader, ...followers.map((r) => r.name)].filter((x): x is string => !!x),
    current: new Set(followers.filter((r) => r.current && !r.offline).map((r) => r.name)),
  };
}

/**
 * Steps the leader down until `node` leads `stream`: the new leader is
 * elected among the current followers at random, so this takes a few
 * rounds; a follower that is not current yet is waited for first. Bounded:
 * `tries` step-downs, each election waited for at most 10 s. Returns why
 * not, or null once `node` leads.
 */
export async function moveLeader(nc: NatsConnection, jsm: JetStreamManager, stream: string, node: string, tries = 20): Promise<string | null> {
  let why = 'no step-down tried';
  for (let i = 0; i < tries; i++) {
    const s = await leaderOf(jsm, stream);
    if (s.leader === node) return null;
    if (!s.current.has(node)) {
      why = `${node} is not a current replica`;
      await sleep(500);
      continue;
    }
    if (s.leader) why = (await stepDown(nc, jsm, stream, s.leader)) ?? 'another replica was elected each time';
    else await stepDown(nc, jsm, stream, null);
  }
  return (await leaderOf(jsm, stream)).leader === node ? null : `never became leader in ${tries} step-downs (${why})`;
}

/** Steps `node` down from leading `stream`, if it leads it (bounded as moveLeader): null once another replica leads, or why not. */
export async function moveLeaderAway(nc: NatsConnection, jsm: JetStreamManager, stream: string, node: string, tries = 5): Promise<string | null> {
  let why = 'no step-down tried';
  for (let i = 0; i < tries; i++) {
    const s = await leaderOf(jsm, stream);
    if (s.leader && s.leader !== node) return null;
    why = (s.leader ? await stepDown(nc, jsm, stream, s.leader) : (await stepDown(nc, jsm, stream, null), 'no leader')) ?? 'elected again';
  }
  const s = await leaderOf(jsm, stream);
  return s.leader && s.leader !== node ? null : `${node} still leads ${stream} after ${tries} step-downs (${why})`;
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

/** A new leader's answers are read once they stop changing: its last sequence the same for this long. */
export const SETTLE_MS = 500;
/** ... and for no longer than this (then it is read as it is). */
export const SETTLE_MAX_MS = 15_000;

/**
 * STREAM.INFO as `node`, the leader, answers it: a replica that sees no
 * leader answers with its own state too (nats-server 2.10.27), and such an
 * answer is not the leader's copy. Bounded: a few tries, then an error.
 */
async function infoAt(jsm: JetStreamManager, stream: string, node: string): Promise<StreamInfo> {
  let si = await jsm.streams.info(stream);
  for (let i = 0; si.cluster?.leader !== node; i++) {
    if (i >= 8) throw new Error(`${node} no longer leads ${stream} (answer from ${si.cluster?.leader || 'a replica that sees no leader'})`);
    await sleep(250);
    si = await jsm.streams.info(stream);
  }
  return si;
}

/**
 * The stream as its current leader has it, once the leader's own answer stops
 * changing (bounded): a leader just elected may still be applying entries it
 * has, and a copy read then would look short of what it holds. How far its
 * first answer was behind is kept (firstAnswered).
 */
/** JetStream's "no message found" (JSNoMessageFoundErr). */
const NO_MESSAGE = 10037;

/**
 * The first message at `seq` or after, as the leader holds it, or null past
 * the last: one request per message, not per sequence (a bucket of one
 * value per key deletes each older value, and a long-lived stream's
 * sequences are mostly deleted; asking each one made a bench's read-back
 * outlast its 5 min bound). nats.js answers "no message found" as null (or
 * JetStream's error, either way the end); any other refusal is asked again
 * (3 times).
 */
async function nextMessage(jsm: JetStreamManager, stream: string, seq: number): Promise<StoredMsg | null> {
  for (let i = 1; ; i++) {
    try {
      return await jsm.streams.getMessage(stream, { seq, next_by_subj: '>' } as unknown as MsgRequest);
    } catch (e) {
      if (e instanceof JetStreamApiError && e.code === NO_MESSAGE) return null;
      if (i >= 3) throw e;
      await sleep(250);
    }
  }
}

async function readCopy(jsm: JetStreamManager, stream: string, node: string): Promise<ReplicaCopy> {
  let si = await infoAt(jsm, stream, node);
  const first = si.state.last_seq;
  const until = Date.now() + SETTLE_MAX_MS;
  for (let stable = Date.now(); Date.now() - stable < SETTLE_MS && Date.now() < until; ) {
    await sleep(250);
    const next = await infoAt(jsm, stream, node);
    if (next.state.last_seq !== si.state.last_seq || next.state.messages !== si.state.messages) stable = Date.now();
    si = next;
  }
  const out: ReplicaCopy = { node, messages: si.state.messages, firstSeq: si.state.first_seq, lastSeq: si.state.last_seq, ...(si.state.last_seq !== first ? { firstAnswered: first } : {}) };
  if (stream === NONCE_STREAM) return out;
  const h = createHash('sha256');
  const kv = stream.startsWith(KV_PREFIX) ? new Map<string, string>() : undefined;
  const prefix = `$KV.${stream.slice(KV_PREFIX.length)}.`;
  for (let seq = si.state.first_seq; seq <= si.state.last_seq && si.state.messages > 0; ) {
    const m = await nextMessage(jsm, stream, seq);
    if (!m || m.seq > si.state.last_seq) break;
    seq = m.seq + 1;
    h.update(`${m.seq}\0${m.subject}\0`).update(m.data).update('\0');
    if (kv && m.subject.startsWith(prefix)) {
      const op = m.header?.get('KV-Operation');
      const key = m.subject.slice(prefix.length);
      if (op === 'DEL' || op === 'PURGE') kv.delete(key);
      else kv.set(key, new TextDecoder().decode(m.data));
    }
  }
  out.digest = h.digest('hex');
  if (kv) out.kv = kv;
  return out;
}

/**
 * Tries at one replica's copy: made leader, it may lose the lead before it is
 * read (CI lab run: "node1 no longer leads KV_UNIBUS_nonces (answer from
 * node3)"; an election of nats-server's own, or membershipd's replica audit
 * stepping a short leader down), and is then made leader again.
 */
export const READ_TRIES = 3;

/** Rounds of reading one stream's copies, when the stream was written to during a round. */
export const READ_ROUNDS = 3;

/** One round: each replica made leader in turn and read, the leader first (it needs no step-down). */
async function readRound(nc: NatsConnection, jsm: JetStreamManager, stream: string): Promise<StreamCopies> {
  const { replicas } = await leaderOf(jsm, stream);
  const s: StreamCopies = { stream, copies: [], unread: [] };
  for (const node of replicas) {
    let why: string | null = 'not tried';
    for (let i = 0; i < READ_TRIES && why !== null; i++) {
      try {
        why = await moveLeader(nc, jsm, stream, node);
        if (why) break;
        s.copies.push(await readCopy(jsm, stream, node));
      } catch (e) {
        why = (e as Error).message;
      }
    }
    if (why) s.unread.push({ node, why });
  }
  return s;
}

/**
 * Whether `stream` was written to since `first` was read: `first`'s node is
 * made leader again and its last sequence asked. A node's copy only grows
 * as the stream is written, so the same last sequence there means no write
 * came between (and copies read meanwhile that differ differ at rest).
 * Null when it cannot be told (the node could not be made leader again).
 */
async function writtenSince(nc: NatsConnection, jsm: JetStreamManager, stream: string, first: ReplicaCopy): Promise<boolean | null> {
  const { leader } = await leaderOf(jsm, stream);
  if (leader !== first.node && (await moveLeader(nc, jsm, stream, first.node))) return null;
  const si = await infoAt(jsm, stream, first.node).catch(() => null);
  return si ? si.state.last_seq !== first.lastSeq : null;
}

/** Each copy's last sequence as read, for a report: "node1 5128, node2 4425". */
const lastSeqs = (s: StreamCopies) => s.copies.map((c) => `${c.node} ${c.lastSeq}`).join(', ');

/**
 * Each replica of each stream, read while it leads. The daemons still write
 * after the workload stops (the repair sweep finishing half-done writes,
 * measured: four index writes between one copy's read and the next, which
 * read as a copy four sequences short), so a round is judged only when no
 * write came between its first read and its end: either every copy read
 * shows one last sequence and the leader still answers it at the end, or
 * the first copy's node, made leader again, still answers its last sequence
 * as read (writtenSince). Copies that differ with no write between are
 * judged as they are (diverged). A round with writes is read again, up to
 * READ_ROUNDS times, and a stream written to in every round is named in
 * `unread` with each copy's last sequence (a copy that could not be
 * compared) rather than as diverged. The streams are read side by side
 * (each stream's leader moves on its own): 26 s one after another in a
 * local check, most of it elections and settling, not reading.
 */
export async function readAllReplicas(nc: NatsConnection, streams: string[]): Promise<StreamCopies[]> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  return Promise.all(streams.map((stream) => readStream(nc, jsm, stream)));
}

/** One stream's copies, read in rounds until one had no write between its reads (READ_ROUNDS at most). */
async function readStream(nc: NatsConnection, jsm: JetStreamManager, stream: string): Promise<StreamCopies> {
  let s: StreamCopies | undefined;
  for (let round = 1; ; round++) {
    s = await readRound(nc, jsm, stream);
    const first = s.copies[0];
    // The nonce stream is not compared (copies.ts): read once.
    if (stream === NONCE_STREAM || !first) break;
    const endSeq = await jsm.streams.info(stream).then((si) => (si.cluster && !si.cluster.leader ? undefined : si.state.last_seq), () => undefined);
    if (endSeq === first.lastSeq && s.copies.every((c) => c.lastSeq === first.lastSeq)) break;
    const written = await writtenSince(nc, jsm, stream, first);
    if (written === false) break;
    if (round >= READ_ROUNDS) {
      const why = written === null ? `${first.node} could not be made leader again to tell` : `${first.node}'s last sequence moved from ${first.lastSeq}`;
      s = { stream, copies: [], unread: [...s.unread, { node: '*', why: `written to during each of ${READ_ROUNDS} rounds of reading its copies (last round: ${lastSeqs(s)}; ${why})` }] };
      break;
    }
  }
  s.copies.sort((a, b) => a.node.localeCompare(b.node));
  return s;
}

/** The control-plane buckets' stream names, as readAllReplicas takes them. */
export const REPLICA_STREAMS = [`KV_${BUCKETS.users}`, `KV_${BUCKETS.rooms}`, `KV_${BUCKETS.members}`, `KV_${BUCKETS.roomsByMember}`, NONCE_STREAM];
