// Each copy of a control-plane stream on this node, read whole from its own
// store after every start of the child and every SCRUB_EVERY_MS after: a
// scrub, as a file system reads its blocks to find the ones that rotted.
//
// Why: bytes inverted inside a message block leave a copy's counts whole, so
// the replica audit (replica-audit.ts), which compares counts, never sees
// them. nats-server checks a message's checksum only when it loads it, so
// such a copy serves, and can lead, until something reads the damaged block
// (chaos runs on 2.15.1: a bit-flipped members copy found only by the deep
// check of `play verify` after the run, "stopped answering after 1,424
// messages"; on 2.10.27 a cut copy rebuilt from such a leader lost 20
// members). Reading the copy through a reader placed on this node
// (copy-reader.ts) makes nats-server load every block: a damaged one stops
// the reader, or nats-server logs its corrupt line (which the supervisor
// acts on by itself, runaway.ts CORRUPT_BYTES). A copy whose reads fail
// twice is rebuilt from its peers through the supervisor's path for damaged
// copies (moved aside, never deleted).
//
// Invariants:
// - Reads only: one R1 reader in memory made and deleted per copy, expiring
//   by itself when its deletion is lost; one stream at a time.
// - Only a copy this node holds of a stream of more than one replica (the
//   only copy is never moved aside), named so by the stream's leader.
// - A copy is called damaged only when two reads in a row fail it: its
//   reader, still there, delivered nothing for SCRUB_BATCH_MS before the
//   count it was promised, or delivered far fewer messages than this node's
//   monitor counts in the copy. nats-server skips a message that fails its
//   checksum and leaves the reader waiting for the count it promised
//   (measured on 2.15.1: 8 bytes inverted in a 400-message copy, the reader
//   stopped after 392). A reader can also be promised nothing and end at
//   once, an empty copy in appearance; where the monitor counts the copy
//   near empty too, that is the replica audit's short copy, not this.
// - A copy is called whole only when its reader reached the last sequence
//   this node's monitor gave for it before (a reader made while the store
//   still loaded after a start ended early and read nothing of the damage:
//   corrupt family, seed 308). A reader that could not be placed, was lost
//   (an election, a partition, a restart) or ended early leaves the copy
//   unread, tried again after SOON_MS.
// - Every wait is bounded: placement (PLACE_TRIES), each batch
//   (SCRUB_BATCH_MS), each leader's answer (the caller's timeout).
import { jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { readCopy, STOPPED, type ReplicaCopy } from './copy-reader.js';
import { fetchJsz } from './monitor.js';
import { NONCE_STREAM } from '../store/buckets.js';

/** How often every copy here is read whole once more (a block can rot while the node runs: a disk's own fault, not only a stop). */
export const SCRUB_EVERY_MS = 10 * 60_000;
/** A copy left unread (no reader placed, or one lost) is tried again after this. */
export const SOON_MS = 30_000;
/** The first scrub after a start: soon, so a copy damaged while the node was down serves for seconds, not minutes. */
export const FIRST_MS = 2000;
/**
 * A batch that delivers nothing within this is a stop. A reader here reads
 * this server's own store (a copy of 10,000 messages in about 0.2 s), so 5 s
 * is long; the deep check's 10 s is for readers on other servers.
 */
export const SCRUB_BATCH_MS = 5000;

export type ScrubVerdict =
  | { stream: string; kind: 'whole'; messages: number; lastSeq: number }
  | { stream: string; kind: 'damaged'; why: string }
  | { stream: string; kind: 'unread'; why: string }
  | { stream: string; kind: 'not here' };

export interface ScrubOptions {
  me: string;
  streams: () => string[];
  /** The stream's replicas (its leader first) as its leader names them. */
  replicasOf: (stream: string) => Promise<string[]>;
  /** This node's copy's message count and last sequence, as its own monitor gives them (null: not listed). */
  ownState: (stream: string) => Promise<{ messages: number; last_seq: number } | null>;
  /** This node's copy of `stream`, read whole through a reader placed here; rejects with copy-reader's words when it stops. */
  readOwn: (stream: string, batchMs: number) => Promise<ReplicaCopy>;
  /** Moves this node's copy aside and rejoins the stream empty (the supervisor's path for damaged copies). */
  rebuild: (stream: string, why: string) => void;
  log: (line: string) => void;
}

/** Reads this node's copy of `stream` whole; a stop, or a reading far short of what the copy holds, is read once more before the copy is called damaged. */
export async function scrubCopy(o: ScrubOptions, stream: string): Promise<ScrubVerdict> {
  const replicas = await o.replicasOf(stream).catch((e: Error) => e);
  if (replicas instanceof Error) return { stream, kind: 'unread', why: `its leader did not answer: ${replicas.message}` };
  if (!replicas.includes(o.me) || replicas.length < 2) return { stream, kind: 'not here' };
  const read = async (): Promise<ScrubVerdict | string> => {
    const held = await o.ownState(stream).catch(() => null);
    if (held === null) return { stream, kind: 'unread', why: "this node's monitor does not list its copy" };
    const c = await o.readOwn(stream, SCRUB_BATCH_MS).catch((e: Error) => e);
    // A reader made while the store still loads (a start, a rebuild) can see less than the copy holds: not a reading of it.
    if (!(c instanceof Error) && c.lastSeq < held.last_seq) return { stream, kind: 'unread', why: `its reader ended at sequence ${c.lastSeq}, before the ${held.last_seq} the copy held` };
    if (!(c instanceof Error)) {
      const after = await o.ownState(stream).catch(() => null);
      const floor = Math.floor(Math.min(held.messages, after?.messages ?? held.messages) * (stream === NONCE_STREAM ? 0.9 : 0.99)) - 2;
      // Promised nothing, or far less than the copy holds: a reader on a damaged index (num_pending 0 on a copy of 200).
      if (c.messages < floor) return `${o.me}'s copy delivered ${c.messages} of the ${held.messages} messages it holds to a reader here`;
      return { stream, kind: 'whole', messages: c.messages, lastSeq: c.lastSeq };
    }
    return c.message.includes(STOPPED) ? c.message : { stream, kind: 'unread', why: c.message };
  };
  const first = await read();
  if (typeof first !== 'string') return first;
  const again = await read();
  if (typeof again !== 'string') return again;
  return { stream, kind: 'damaged', why: `its copy did not read whole to a reader here, twice (${first}; then ${again}): nats-server cannot load part of it` };
}

/** Scrub rounds over every control-plane stream, one stream at a time. */
export class Scrub {
  #o: ScrubOptions;
  #nextInMs = FIRST_MS;
  #rounds = 0;

  constructor(o: ScrubOptions) {
    this.#o = o;
  }

  /** When the next round is due: SOON_MS after a round that left a copy unread, else SCRUB_EVERY_MS (jittered by up to a tenth, so the nodes do not read together). */
  get nextInMs(): number {
    return this.#nextInMs;
  }
  get rounds(): number {
    return this.#rounds;
  }

  /** Reads every copy here once; a damaged one is handed to `rebuild`. */
  async round(): Promise<ScrubVerdict[]> {
    const t0 = Date.now();
    const out: ScrubVerdict[] = [];
    for (const stream of this.#o.streams()) {
      const v = await scrubCopy(this.#o, stream);
      out.push(v);
      if (v.kind === 'damaged') {
        this.#o.log(`scrub: ${stream}: ${v.why}; rebuilding it from its peers`);
        this.#o.rebuild(stream, v.why);
      }
    }
    this.#rounds++;
    const unread = out.filter((v): v is Extract<ScrubVerdict, { kind: 'unread' }> => v.kind === 'unread');
    const whole = out.filter((v): v is Extract<ScrubVerdict, { kind: 'whole' }> => v.kind === 'whole');
    // One line per round (every 10 min at rest): what was read, and how long it took.
    this.#o.log(`scrub: ${whole.length} copies read whole (${whole.reduce((n, v) => n + v.messages, 0)} messages) in ${((Date.now() - t0) / 1000).toFixed(1)} s${out.length > whole.length ? `; ${out.length - whole.length} not (${out.filter((v) => v.kind !== 'whole').map((v) => `${v.stream}: ${v.kind}`).join(', ')})` : ''}`);
    if (unread.length) this.#o.log(`scrub: left unread, tried again in ${SOON_MS / 1000} s: ${unread.map((v) => `${v.stream} (${v.why})`).join('; ')}`);
    this.#nextInMs = unread.length ? SOON_MS : Math.round(SCRUB_EVERY_MS * (0.9 + Math.random() * 0.1));
    return out;
  }
}

/**
 * The scrub's reads through `nc`, which must be connected to this node's own
 * nats-server (a reader on another server's store says nothing of this
 * node's copy): the replicas as the stream's leader names them, this node's
 * copy through a reader placed here, and its last sequence from this node's
 * monitor (loopback, `monitorPort`).
 */
export function scrubReads(nc: NatsConnection, me: string, jsm: () => Promise<JetStreamManager>, monitorPort: number): Pick<ScrubOptions, 'replicasOf' | 'readOwn' | 'ownState'> {
  return {
    ownState: async (s) => {
      const j = await fetchJsz(monitorPort, 2000);
      return (j.account_details ?? []).flatMap((a) => a.stream_detail ?? []).find((d) => d.name === s)?.state ?? null;
    },
    replicasOf: async (s) => {
      const c = (await (await jsm()).streams.info(s)).cluster;
      return [c?.leader, ...(c?.replicas ?? []).map((r) => r.name)].filter((x): x is string => !!x);
    },
    readOwn: async (s, batchMs) => {
      if (nc.info?.server_name !== me) throw new Error(`connected to ${nc.info?.server_name ?? 'no server'}, not to this node's nats-server`);
      return readCopy(jetstream(nc, { timeout: 5000 }), await jsm(), s, me, false, batchMs);
    },
  };
}
