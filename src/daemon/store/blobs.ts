// Blobs per room in the object store, named by their sha256 so a read can be
// checked against its name: a short or stale read is refused, never served.
import type { Store } from './buckets.js';
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
    data = await withTimeout(store.blobs.getBlob(nameOf(room, sha)), store.opTimeoutMs * 2);
  } catch (err) {
    throw toApiError(err, 'get blob');
  }
  if (!data) throw new ApiError('not_found', `no blob ${sha} in room ${room}`);
  if (sha256Hex(data) !== sha) throw new UnavailableError('blob read did not match its hash');
  return data;
}

/** Object reads run an ordered consumer that has no timeout of its own. */
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

export async function listBlobNames(store: Store): Promise<string[]> {
  try {
    return (await store.blobs.list()).filter((i) => !i.deleted).map((i) => i.name).sort();
  } catch (err) {
    throw toApiError(err, 'list blobs');
  }
}
