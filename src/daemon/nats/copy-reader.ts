// A reader of one replica's copy of a stream: JetStream answers reads at a
// stream's leader only, so a copy on a follower never shows through the
// message API. An R1 consumer in memory that nats-server placed on that
// replica delivers from that server's own store (a reader on a follower
// answered all 10,000 messages of its copy with both other servers killed);
// a copy of 10,000 messages reads in about 0.2 s. Shared by the deep check
// and the chaos read-back (src/controller/chaos/replicas.ts) and by
// membershipd's scrub of its own copies (scrub.ts).
//
// Invariants:
// - Nothing stored is written: a reader is made and deleted per copy, and
//   expires by itself (READER_IDLE_MS) when its deletion is lost.
// - Every wait is bounded: placement by PLACE_TRIES, each batch by its
//   expiry.
import { createHash } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type ConsumerInfo, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { NONCE_STREAM } from '../store/buckets.js';

/** What a replica's copy of a stream is, as read back. */
export interface ReplicaCopy {
  node: string;
  messages: number;
  firstSeq?: number;
  lastSeq: number;
  /** The last sequence this copy was first read at, when it grew before the copies agreed (a follower applying entries it held). */
  firstAnswered?: number;
  /** sha256 over every message (absent for the nonce stream). */
  digest?: string;
  /** KV buckets: key -> latest value (JSON text). */
  kv?: Map<string, string>;
}

const KV_PREFIX = 'KV_';

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
export const BATCH_MS = 10_000;
/**
 * What a copy that stopped answering is named by: its reader got nothing
 * more before the end it was made with (a bit-flipped block on disk, in
 * bench/repair-corrupt.ts). Read again it stops again, so it is judged at
 * once: neither tried again nor waited for (which made one such copy's
 * deep check take 62 s).
 */
export const STOPPED = 'stopped answering';

/** `node`'s copy as its reader `ci` delivers it, from the first message to the last it held when the reader was made (an empty copy: its sequences as the reader starts). */
export async function readThrough(js: JetStreamClient, stream: string, node: string, ci: ConsumerInfo, jsm?: JetStreamManager, batchMs = BATCH_MS): Promise<ReplicaCopy> {
  const out: ReplicaCopy = { node, messages: 0, lastSeq: 0 };
  const h = stream === NONCE_STREAM ? undefined : createHash('sha256');
  const kv = stream.startsWith(KV_PREFIX) ? new Map<string, string>() : undefined;
  const prefix = `$KV.${stream.slice(KV_PREFIX.length)}.`;
  const reader = await js.consumers.get(stream, ci.name);
  for (let pending = ci.num_pending; pending > 0; ) {
    const batch = await reader.fetch({ max_messages: Math.min(pending, BATCH), expires: batchMs });
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

/**
 * `node`'s copy of `stream`, read whole through a reader placed on it: every
 * message that copy holds, from its own store, to the last it held when the
 * reader was made (each message says how many are left after it). Its count,
 * first and last sequence are of the messages read. The reader is deleted
 * after.
 */
export async function readCopy(js: JetStreamClient, jsm: JetStreamManager, stream: string, node: string, single: boolean, batchMs = BATCH_MS): Promise<ReplicaCopy> {
  const ci = await placeReader(jsm, stream, node, single);
  try {
    return await readThrough(js, stream, node, ci, jsm, batchMs);
  } finally {
    await jsm.consumers.delete(stream, ci.name).catch(() => undefined);
  }
}
