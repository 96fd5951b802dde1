// Rooms, their member sets and the per-member index, kept in step with CAS.
//
// The members document (UNIBUS_members/<room>) is the source of truth for who
// belongs to a room (ACLs are computed from it). UNIBUS_rooms_by_member is an
// index for "list my rooms", updated right after; if that second write fails
// the request answers 503 and repeating it (add and remove are idempotent)
// brings the index back in step.
// A create that JetStream answers "already exists" may have been stored by
// this very request (measured under chaos: a create answered conflict whose
// room then showed up, created by nobody else): the room found is this
// request's own when its owner and creation time (ms) are this request's,
// and the create goes on as if it had been answered ok. The room is read
// until it shows (readCreated): a read right after the refusal may not see it
// yet, and that is never taken for someone else's room.
// Once a request's first write is in, it never answers a 4xx: a later write
// that gives up (CAS retries spent under leader changes) is a 503, since
// the request half happened and repeating it finishes it (measured under
// chaos: a 409 "too many concurrent changes" for a room that then existed).
import type { Store } from './buckets.js';
import { ApiError, UnavailableError } from '../../protocol/errors.js';
import { createJson, readCreated, readJson, updateJson } from './kvjson.js';
import { readConsistent, waitOutReadLeases } from './follow.js';
import { nowIso, type MembersRecord, type RoomRecord, type RoomsOfMember, type UserRecord } from '../../protocol/model.js';
import { getUser } from './users.js';

export async function getRoom(store: Store, name: string): Promise<RoomRecord | null> {
  const r = await readJson<RoomRecord>(store.kv.rooms, name);
  return r ? r.value : null;
}

export async function getMembers(store: Store, room: string): Promise<MembersRecord | null> {
  const r = await readConsistent(store.kv.members, store.follow?.members, room);
  return r ? r.value : null;
}

export async function listRoomsOf(store: Store, handle: string): Promise<string[]> {
  const r = await readJson<RoomsOfMember>(store.kv.roomsByMember, handle);
  return r ? r.value.rooms : [];
}

/** A write after the request's first one: giving up on it is a 503 (repeat to finish), never a 4xx. */
async function thenWrite<T>(what: string, write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'conflict') throw new UnavailableError(`${what}, after the request's first write`, err);
    throw err;
  }
}

async function indexRoom(store: Store, handle: string, room: string, add: boolean): Promise<void> {
  await updateJson<RoomsOfMember>(store.kv.roomsByMember, handle, (cur) => {
    const rooms = cur ? cur.rooms : [];
    if (rooms.includes(room) === add) return undefined;
    const next = add ? [...rooms, room].sort() : rooms.filter((r) => r !== room);
    return { handle, rooms: next };
  });
}

export async function createRoom(store: Store, name: string, owner: string): Promise<RoomRecord> {
  const at = nowIso();
  const room: RoomRecord = { name, owner, created_at: at };
  if ((await createJson(store.kv.rooms, name, room)) === false) {
    const found = (await readCreated<RoomRecord>(store.kv.rooms, name)).value;
    if (found.owner !== owner || found.created_at !== at) throw new ApiError('conflict', `room ${name} already exists (created ${found.created_at})`);
  }
  const members: MembersRecord = { room: name, epoch: 1, rekey_required: false, members: { [owner]: { added_at: at, added_by: owner } } };
  await thenWrite(`members of ${name}`, updateJson<MembersRecord>(store.kv.members, name, () => members));
  await Promise.all([thenWrite(`rooms_by_member.${owner}`, indexRoom(store, owner, name, true)), waitOutReadLeases()]);
  return room;
}

/** Room owner or admin; others get `forbidden` (members) or `not_member`. */
export async function requireManager(store: Store, room: string, caller: UserRecord): Promise<RoomRecord> {
  const r = await getRoom(store, room);
  if (!r) throw new ApiError('not_found', `no room ${room}`);
  if (caller.role !== 'admin' && r.owner !== caller.handle) {
    throw new ApiError('forbidden', `only the owner of room ${room} or an admin may change its members`);
  }
  return r;
}

/** Members (and admins) may read a room; to anyone else it is not there. */
export async function requireMember(store: Store, room: string, caller: UserRecord, adminOk = true, prefetched?: Promise<MembersRecord | null>): Promise<MembersRecord> {
  const m = await (prefetched ?? getMembers(store, room));
  if (m && (m.members[caller.handle] || (adminOk && caller.role === 'admin'))) return m;
  throw new ApiError('not_member', `you are not a member of room ${room}`);
}

/** `skipIndex` is test-only (daemon/misbehave.ts skip-member-index): the index write left out. */
export async function addMember(store: Store, room: string, handle: string, by: string, skipIndex = false): Promise<MembersRecord> {
  const u = await getUser(store, handle);
  if (!u || u.status !== 'active') throw new ApiError('not_found', `no active user ${handle}`);
  const out = await updateJson<MembersRecord>(store.kv.members, room, (cur) => {
    if (!cur) throw new ApiError('not_found', `no room ${room}`);
    if (cur.members[handle]) return undefined;
    return { ...cur, members: { ...cur.members, [handle]: { added_at: nowIso(), added_by: by } } };
  });
  await Promise.all([skipIndex ? undefined : thenWrite(`rooms_by_member.${handle}`, indexRoom(store, handle, room, true)), waitOutReadLeases()]);
  return out as MembersRecord;
}

/** Removal marks the room for rekeying: no keys are accepted until a new epoch. */
export async function removeMember(store: Store, room: RoomRecord, handle: string): Promise<MembersRecord> {
  if (handle === room.owner) throw new ApiError('bad_request', `handle: the owner of room ${room.name} cannot be removed`);
  const out = await updateJson<MembersRecord>(store.kv.members, room.name, (cur) => {
    if (!cur) throw new ApiError('not_found', `no room ${room.name}`);
    if (!cur.members[handle]) return undefined;
    const members = { ...cur.members };
    delete members[handle];
    return { ...cur, members, rekey_required: true };
  });
  await Promise.all([thenWrite(`rooms_by_member.${handle}`, indexRoom(store, handle, room.name, false)), waitOutReadLeases()]);
  return out as MembersRecord;
}
