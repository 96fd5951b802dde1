// Sealed room keys: opaque bytes per member per epoch. The server never sees a
// room key in clear; clients seal it to each member's box key.
import type { Store } from './buckets.js';
import { ApiError } from '../../protocol/errors.js';
import { putJson, readJson, updateJson } from './kvjson.js';
import { SEALED_MAX, SEALED_MIN, type MembersRecord, type SealedKey } from '../../protocol/model.js';
import { waitOutReadLeases } from './follow.js';


function keyOf(room: string, epoch: number, handle: string): string {
  return `${room}.${epoch}.${handle}`;
}

/** Validates an upload against the member set and the epoch rule; returns decoded sizes checked. */
export function checkKeyUpload(m: MembersRecord, epoch: unknown, keys: unknown): { epoch: number; keys: Record<string, string> } {
  if (!Number.isSafeInteger(epoch) || (epoch as number) < 1) throw new ApiError('bad_request', 'epoch: expected a positive integer');
  const e = epoch as number;
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys) || Object.keys(keys).length === 0) {
    throw new ApiError('bad_request', 'keys: expected an object {handle: base64 sealed key}');
  }
  const k = keys as Record<string, unknown>;
  for (const [h, v] of Object.entries(k)) {
    if (!m.members[h]) throw new ApiError('bad_request', `keys.${h}: not a member of room ${m.room}`);
    const n = typeof v === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(v) ? Buffer.from(v, 'base64').length : -1;
    if (n < SEALED_MIN || n > SEALED_MAX) throw new ApiError('bad_request', `keys.${h}: expected base64 of ${SEALED_MIN}-${SEALED_MAX} bytes`);
  }
  if (e === m.epoch + 1) {
    const missing = Object.keys(m.members).filter((h) => !(h in k));
    if (missing.length) throw new ApiError('bad_request', `keys: a new epoch needs a key for every member (missing ${missing.join(', ')})`);
  } else if (e === m.epoch) {
    if (m.rekey_required) throw new ApiError('conflict', `epoch: a member was removed; upload epoch ${m.epoch + 1} for every member first`);
  } else {
    throw new ApiError('conflict', `epoch: expected ${m.epoch} (add keys) or ${m.epoch + 1} (rotate), got ${e}`);
  }
  return { epoch: e, keys: k as Record<string, string> };
}

export async function putRoomKeys(store: Store, m: MembersRecord, epoch: number, keys: Record<string, string>, by: string): Promise<number> {
  const at = new Date().toISOString();
  for (const [handle, sealed] of Object.entries(keys)) {
    await putJson(store.kv.roomKeys, keyOf(m.room, epoch, handle), { room: m.room, epoch, handle, sealed, by, at } satisfies SealedKey);
  }
  if (epoch === m.epoch) return epoch;
  // Advance the epoch only from the one this upload was checked against.
  await updateJson<MembersRecord>(store.kv.members, m.room, (cur) => {
    if (!cur) throw new ApiError('not_found', `no room ${m.room}`);
    if (cur.epoch === epoch && !cur.rekey_required) return undefined;
    if (cur.epoch !== epoch - 1) throw new ApiError('conflict', `epoch changed meanwhile (now ${cur.epoch}); retry`);
    const missing = Object.keys(cur.members).filter((h) => !(h in keys));
    if (missing.length) throw new ApiError('conflict', `members changed meanwhile (missing ${missing.join(', ')}); retry`);
    return { ...cur, epoch, rekey_required: false };
  });
  await waitOutReadLeases();
  return epoch;
}

export async function getRoomKey(store: Store, room: string, epoch: number, handle: string): Promise<SealedKey | null> {
  const r = await readJson<SealedKey>(store.kv.roomKeys, keyOf(room, epoch, handle));
  return r ? r.value : null;
}
