// /v1/rooms: create, list mine, get; members add/remove; sealed keys per epoch.
import type { Router } from 'h3';
import type { Store } from '../store/buckets.js';
import { ApiError } from '../../protocol/errors.js';
import { checkHandle, checkKnownFields, checkRoom, type MembersRecord, type RoomRecord } from '../../protocol/model.js';
import { addMember, createRoom, getRoom, listRoomsOf, removeMember, requireManager, requireMember } from '../store/rooms.js';
import { checkKeyUpload, getRoomKey, putRoomKeys } from '../store/keys.js';
import { getUser } from '../store/users.js';
import { signed, type V1Deps } from './v1-common.js';
import { STALE_READ_MS } from '../misbehave.js';

async function detail(store: Store, room: RoomRecord, m: MembersRecord) {
  const members = [];
  for (const h of Object.keys(m.members).sort()) {
    const u = await getUser(store, h);
    members.push({ handle: h, ...(u?.box_pub ? { box_pub: u.box_pub } : {}) });
  }
  return { ...room, epoch: m.epoch, rekey_required: m.rekey_required, members };
}

export function registerRoomRoutes(router: Router, deps: V1Deps): void {
  const { store } = deps;

  router.post(
    '/v1/rooms',
    signed(deps, async (c) => {
      const o = c.json();
      checkKnownFields(o, ['name']);
      const name = checkRoom(o.name, 'name');
      // Test-only: acknowledged, never written (daemon/misbehave.ts).
      const room = deps.misbehave?.has('ack-without-write') ? { name, owner: c.user.handle, created_at: new Date().toISOString() } : await createRoom(store, name, c.user.handle);
      c.event.node.res.statusCode = 201;
      return room;
    }),
  );

  // Test-only stale-read: the list as it was up to STALE_READ_MS ago (daemon/misbehave.ts).
  const stale = new Map<string, { at: number; rooms: Promise<string[]> }>();
  const listRooms = (handle: string) => {
    if (!deps.misbehave?.has('stale-read')) return listRoomsOf(store, handle);
    const hit = stale.get(handle);
    if (hit && Date.now() - hit.at < STALE_READ_MS) return hit.rooms;
    const rooms = listRoomsOf(store, handle);
    stale.set(handle, { at: Date.now(), rooms });
    return rooms;
  };
  router.get('/v1/rooms', signed(deps, async (c) => ({ rooms: await listRooms(c.user.handle) })));

  router.get(
    '/v1/rooms/:room',
    signed(deps, async (c) => {
      const name = checkRoom(c.param('room'));
      const m = await requireMember(store, name, c.user);
      const room = await getRoom(store, name);
      if (!room) throw new ApiError('not_member', `you are not a member of room ${name}`);
      return detail(store, room, m);
    }),
  );

  router.post(
    '/v1/rooms/:room/members',
    signed(deps, async (c) => {
      const room = await requireManager(store, checkRoom(c.param('room')), c.user);
      const o = c.json();
      checkKnownFields(o, ['handle']);
      const m = await addMember(store, room.name, checkHandle(o.handle), c.user.handle, deps.misbehave?.has('skip-member-index'));
      return detail(store, room, m);
    }),
  );

  router.delete(
    '/v1/rooms/:room/members/:handle',
    signed(deps, async (c) => {
      const room = await requireManager(store, checkRoom(c.param('room')), c.user);
      const m = await removeMember(store, room, checkHandle(c.param('handle')));
      return detail(store, room, m);
    }),
  );

  router.put(
    '/v1/rooms/:room/keys',
    signed(deps, async (c) => {
      const name = checkRoom(c.param('room'));
      const m = await requireMember(store, name, c.user, false, c.members);
      const o = c.json();
      checkKnownFields(o, ['epoch', 'keys']);
      const up = checkKeyUpload(m, o.epoch, o.keys);
      return { epoch: await putRoomKeys(store, m, up.epoch, up.keys, c.user.handle) };
    }, { prefetchRoom: true }),
  );

  router.get(
    '/v1/rooms/:room/keys/:epoch',
    signed(deps, async (c) => {
      const name = checkRoom(c.param('room'));
      await requireMember(store, name, c.user, false, c.members);
      const epoch = Number(c.param('epoch'));
      if (!Number.isSafeInteger(epoch) || epoch < 1) throw new ApiError('bad_request', 'epoch: expected a positive integer');
      // A member reads only their own sealed key.
      const k = await getRoomKey(store, name, epoch, c.user.handle);
      if (!k) throw new ApiError('not_found', `no key for you in room ${name} at epoch ${epoch}`);
      return k;
    }, { prefetchRoom: true }),
  );
}
