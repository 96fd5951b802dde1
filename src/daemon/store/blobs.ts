// Blobs per room in the object store, named by their sha256 so a read can be
// checked against its name: a short or stale read is refused, never served.
//
// Invariants:
// - A read makes no consumer: its object's chunks are asked one message
//   request each at the stream's leader (readBlob). nats.js reads an object
//   through an ordered push consumer it leaves to expire after 5 min, and
//   nats-server 2.15 limits each stream to 1,000 consumers when the stream
//   sets no limit of its own (and takes any value not above 0 as its
//   default): on the lab, play backup after some 700 blob reads in as many
//   seconds failed "maximum consumers limit reached", and so would any node
//   serving over 1,000 blob reads in 5 min.
import type { MsgRequest } from '@nats-io/jetstream';
import type { Store } from './buckets.js';
import { BLOB_STORE } from './names.js';
import { ApiError, UnavailableError } from '../../protocol/errors.js';
import { toApiError } from './kvjson.js';
import { SHA256_RE } from '../../protocol/model.js';
import { sha256Hex } from '../../util/hash.js';

export const BLOB_MAX_BYTES = 1024 * 1024;

function nameOf(room: string, sha: string): string {
  return `${room}/${sha}`;
}

export async function putBlob(store: Store, room: string, data: Uint8Array, by: string): Promise<{ sha256: string; size: number }> {
  if (data.length === 0) throw new ApiError('bad_request', 'body: expected 1 or more bytes');
  if (data.length > BLOB_MAX_BYTES) throw new ApiError('too_large', `body: at most ${BLOB_MAX_BYTES} bytes`);
  const sha = sha256Hex(data);
  try {
    const cur = await store.blobs.info(nameOf(room, sha));
    if (!cur || cur.deleted) {
      await store.blobs.putBlob({ name: nameOf(room, sha), description: `by ${by}` }, data, { timeout: store.opTimeoutMs });
    }
  } catch (err) {
    throw toApiError(err, 'put blob');
  }
  return { sha256: sha, size: data.length };
}

export async function getBlob(store: Store, room: string, sha: string): Promise<Uint8Array> {
  if (!SHA256_RE.test(sha)) throw new ApiError('bad_request', 'sha256: expected 64 lowercase hex digits');
  let data: Uint8Array | null;
  try {
    data = await withTimeout(readBlob(store, nameOf(room, sha)), store.opTimeoutMs * 2);
  } catch (err) {
    if (err instanceof UnavailableError) throw err;
    throw toApiError(err, 'get blob');
  }
  if (!data) throw new ApiError('not_found', `no blob ${sha} in room ${room}`);
  if (sha256Hex(data) !== sha) throw new UnavailableError('blob read did not match its hash');
  return data;
}

/** The blob store's stream, as nats.js names an object store's. */
const BLOB_STREAM = `OBJ_${BLOB_STORE}`;

/**
 * An object's bytes as the stream's leader holds them, or null when there is
 * no such object (or it was deleted): its info, then each of its chunks by
 * one message request (the next message on the object's chunk subject after
 * the last one read). A chunk missing, or more or fewer bytes than the info
 * says, is an error: never a short read.
 */
export async function readBlob(store: Store, name: string): Promise<Uint8Array | null> {
  const info = await store.blobs.info(name);
  if (!info || info.deleted) return null;
  const subject = `$O.${BLOB_STORE}.C.${info.nuid}`;
  const out = new Uint8Array(info.size);
  let at = 0;
  for (let i = 0, seq = 0; i < info.chunks; i++) {
    const m = await store.jsm.streams.getMessage(BLOB_STREAM, { seq: seq + 1, next_by_subj: subject } as unknown as MsgRequest).catch((e: Error) => (/no message found/i.test(e.message) ? null : Promise.reject(e)));
    if (!m) throw new UnavailableError(`blob ${name}: chunk ${i + 1} of ${info.chunks} not found`);
    if (at + m.data.length > info.size) throw new UnavailableError(`blob ${name}: more bytes than its ${info.size}`);
    out.set(m.data, at);
    at += m.data.length;
    seq = m.seq;
  }
  if (at !== info.size) throw new UnavailableError(`blob ${name}: ${at} of its ${info.size} bytes`);
  return out;
}

/** A read's bound as a whole (each of its requests has its own). */
async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        t = setTimeout(() => rej(new UnavailableError(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}
