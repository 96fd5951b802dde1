// The store on a real single nats-server: buckets, consistent CAS updates,
// idempotent users, rooms with members in step, nonces never accepted twice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/nats-core';
import { nanos } from '@nats-io/transport-node';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal, makeUser, openTestStore } from '../harness/control-plane.js';
import { BUCKETS, NONCE_TTL_MS, NONCE_WINDOW_MS, type Store } from '../../src/daemon/store/buckets.js';
import { ApiError } from '../../src/protocol/errors.js';
import { WRITE_SETTLE_MS } from '../../src/daemon/store/follow.js';
import { addUser, getUser, listUsers, revokeUser } from '../../src/daemon/store/users.js';
import { addMember, createRoom, getMembers, listRoomsOf, removeMember, getRoom } from '../../src/daemon/store/rooms.js';
import { claimNonce } from '../../src/daemon/store/nonces.js';
import { listKeys, readJson, updateJson } from '../../src/daemon/store/kvjson.js';
import { checkKeyUpload, putRoomKeys, getRoomKey } from '../../src/daemon/store/keys.js';
import { BLOB_MAX_BYTES, getBlob, putBlob } from '../../src/daemon/store/blobs.js';
import { BLOB_STORE } from '../../src/daemon/store/names.js';

let servers: TestNatsServer[] = [];
let nc: NatsConnection;
let store: Store;
const id = makeInternal();

before(async () => {
  servers = await makeServers({ hosts: ['127.0.0.41'], internalNkey: id.publicKey });
  await startServers(servers);
  nc = await connectInternal(servers[0].url, id);
  store = await openTestStore(nc, 1);
});

after(async () => {
  await nc?.close().catch(() => {});
  await stopServers(servers);
});

const code = (c: string) => (e: unknown) => e instanceof ApiError && e.code === c;

test('buckets exist without direct get, nonces with a TTL', async () => {
  for (const b of Object.values(BUCKETS)) {
    const si = await store.jsm.streams.info(`KV_${b}`);
    assert.equal(si.config.allow_direct, false, b);
  }
  const n = await store.jsm.streams.info(`KV_${BUCKETS.nonces}`);
  assert.equal(n.config.max_age, nanos(NONCE_TTL_MS));
  // Replays stay refused: a nonce outlives every timestamp that could carry it.
  assert.ok(NONCE_TTL_MS > 2 * NONCE_WINDOW_MS);
});

test('a nonce bucket kept with another TTL gets this TTL when the store opens', async () => {
  const name = `KV_${BUCKETS.nonces}`;
  await store.jsm.streams.update(name, { max_age: nanos(300_000) });
  assert.equal((await store.jsm.streams.info(name)).config.max_age, nanos(300_000));
  await openTestStore(nc, 1);
  assert.equal((await store.jsm.streams.info(name)).config.max_age, nanos(NONCE_TTL_MS));
});

test('users: add is idempotent, another key is refused, revoke keeps the record', async () => {
  const a = makeUser('alice');
  const r1 = await addUser(store, { handle: 'alice', sign_pub: a.sign_pub, role: 'admin' });
  assert.equal(r1.created, true);
  const t = performance.now();
  const r2 = await addUser(store, { handle: 'alice', sign_pub: a.sign_pub, role: 'admin' });
  assert.equal(r2.created, false);
  // "Exists" acknowledges the record as much as "created": both wait out the read lease.
  assert.ok(performance.now() - t >= WRITE_SETTLE_MS, 'the no-change add waits out the read lease');
  const other = makeUser('alice');
  await assert.rejects(addUser(store, { handle: 'alice', sign_pub: other.sign_pub, role: 'admin' }), code('conflict'));
  // One key, one handle: it is one NATS nkey. A refused add leaves its key free.
  await assert.rejects(addUser(store, { handle: 'alias', sign_pub: a.sign_pub, role: 'member' }), code('conflict'));
  assert.equal((await addUser(store, { handle: 'other', sign_pub: other.sign_pub, role: 'member' })).created, true);
  const b = makeUser('bobby');
  await addUser(store, { handle: 'bobby', sign_pub: b.sign_pub, role: 'member' });
  const rev = await revokeUser(store, 'bobby');
  assert.equal(rev.status, 'revoked');
  assert.equal((await getUser(store, 'bobby'))?.status, 'revoked');
  await assert.rejects(addUser(store, { handle: 'bobby', sign_pub: b.sign_pub, role: 'member' }), code('conflict'));
  assert.deepEqual((await listUsers(store)).map((u) => u.handle), ['alice', 'bobby', 'other']);
});

test('rooms: members and rooms_by_member stay in step; removal demands a new epoch', async () => {
  const c = makeUser('carol');
  await addUser(store, { handle: 'carol', sign_pub: c.sign_pub, role: 'member' });
  const room = await createRoom(store, 'ops', 'alice');
  await assert.rejects(createRoom(store, 'ops', 'carol'), code('conflict'));
  await addMember(store, 'ops', 'carol', 'alice');
  assert.deepEqual(await listRoomsOf(store, 'carol'), ['ops']);
  assert.deepEqual(Object.keys((await getMembers(store, 'ops'))!.members).sort(), ['alice', 'carol']);
  await assert.rejects(addMember(store, 'ops', 'bobby', 'alice'), code('not_found'));
  const sealed = Buffer.alloc(48, 1).toString('base64');
  let m = (await getMembers(store, 'ops'))!;
  const up = checkKeyUpload(m, 1, { alice: sealed, carol: sealed });
  await putRoomKeys(store, m, up.epoch, up.keys, 'alice');
  assert.equal((await getRoomKey(store, 'ops', 1, 'carol'))?.sealed, sealed);
  await removeMember(store, room, 'carol');
  assert.deepEqual(await listRoomsOf(store, 'carol'), []);
  m = (await getMembers(store, 'ops'))!;
  assert.equal(m.rekey_required, true);
  assert.throws(() => checkKeyUpload(m, 1, { alice: sealed }), code('conflict'));
  assert.throws(() => checkKeyUpload(m, 2, { alice: sealed, carol: sealed }), code('bad_request'));
  const up2 = checkKeyUpload(m, 2, { alice: sealed });
  await putRoomKeys(store, m, up2.epoch, up2.keys, 'alice');
  m = (await getMembers(store, 'ops'))!;
  assert.equal(m.epoch, 2);
  assert.equal(m.rekey_required, false);
  assert.equal((await getRoom(store, 'ops'))?.owner, 'alice');
});

test('rooms: a create stored by this request but answered "already exists" goes on as created; one by another request stays a conflict', async () => {
  await addUser(store, { handle: 'dora', sign_pub: makeUser('dora').sign_pub, role: 'member' });
  const kv = store.kv.rooms;
  const real = kv.create.bind(kv);
  // As seen under chaos: the write is stored, and the answer that reaches the caller is the conflict.
  kv.create = async (key: string, data: Parameters<typeof real>[1]) => {
    await real(key, data);
    let conflict: unknown;
    try {
      await real(key, data);
    } catch (e) {
      conflict = e;
    }
    throw conflict;
  };
  try {
    const room = await createRoom(store, 'dora-1', 'dora');
    assert.equal(room.owner, 'dora');
    assert.deepEqual(Object.keys((await getMembers(store, 'dora-1'))!.members), ['dora']);
    assert.deepEqual(await listRoomsOf(store, 'dora'), ['dora-1']);
  } finally {
    kv.create = real;
  }
  await assert.rejects(createRoom(store, 'dora-1', 'dora'), code('conflict'), 'a second create by the same owner is a conflict: another creation time');
});

/**
 * As chaos saw it on nats-server 2.15.1 with the stream's leader killed: the
 * create goes in, its answer is "already exists", and the first reads after
 * do not show the key yet. Returns the undo.
 */
function createdUnseen(kv: Store['kv']['rooms'], hiddenReads: number): () => void {
  const real = { create: kv.create.bind(kv), get: kv.get.bind(kv) };
  let hidden = 0;
  kv.create = async (key: string, data: Parameters<typeof real.create>[1]) => {
    await real.create(key, data);
    hidden = hiddenReads;
    return real.create(key, data);
  };
  kv.get = async (key: string, o?: Parameters<typeof real.get>[1]) => (hidden > 0 ? (hidden--, null) : real.get(key, o));
  return () => Object.assign(kv, real);
}

test('rooms and users: a create answered "already exists" whose key the next reads do not show yet is this request\'s own once it shows: created, index and key kept', async () => {
  await addUser(store, { handle: 'fay', sign_pub: makeUser('fay').sign_pub, role: 'member' });
  const undoRooms = createdUnseen(store.kv.rooms, 3);
  try {
    const room = await createRoom(store, 'fay-1', 'fay');
    assert.equal(room.owner, 'fay');
    assert.deepEqual(await listRoomsOf(store, 'fay'), ['fay-1'], 'the index written too');
  } finally {
    undoRooms();
  }
  const gus = makeUser('gus');
  const undoUsers = createdUnseen(store.kv.users, 2);
  try {
    const r = await addUser(store, { handle: 'gus', sign_pub: gus.sign_pub, role: 'member' });
    assert.equal(r.created, true);
  } finally {
    undoUsers();
  }
  // The key it reserved still names it: another handle with gus's key is refused.
  await assert.rejects(addUser(store, { handle: 'gus2', sign_pub: gus.sign_pub, role: 'member' }), code('conflict'));
});

test('a create answered "already exists" whose key never shows within the bound is a 503, not a 409', async () => {
  await addUser(store, { handle: 'hal', sign_pub: makeUser('hal').sign_pub, role: 'member' });
  const undo = createdUnseen(store.kv.rooms, 1_000_000);
  try {
    await assert.rejects(createRoom(store, 'hal-1', 'hal'), code('unavailable'));
  } finally {
    undo();
  }
});

test('rooms: once the room is written, an index write that gives up is a 503 (repeat to finish), not a 409', async () => {
  await addUser(store, { handle: 'erin', sign_pub: makeUser('erin').sign_pub, role: 'member' });
  const kv = store.kv.roomsByMember;
  const real = { create: kv.create.bind(kv), update: kv.update.bind(kv), put: kv.put.bind(kv) };
  // Someone else writes the index entry before each of ours: every CAS loses.
  const race = (k: string) => real.put(k, JSON.stringify({ handle: k, rooms: [] }));
  kv.create = async (k: string, d: Parameters<typeof real.create>[1]) => (await race(k), real.create(k, d));
  kv.update = async (k: string, d: Parameters<typeof real.update>[1], v: number) => (await race(k), real.update(k, d, v));
  try {
    await assert.rejects(createRoom(store, 'erin-1', 'erin'), (e: unknown) => e instanceof ApiError && e.code === 'unavailable' && /rooms_by_member\.erin, after the request's first write/.test(e.message));
  } finally {
    Object.assign(kv, real);
  }
  assert.equal((await getRoom(store, 'erin-1'))?.owner, 'erin', 'the room was written');
});

test('CAS: concurrent updates of one key all land', async () => {
  await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      updateJson<{ n: number[] }>(store.kv.members, 'cas-probe', (cur) => ({ n: [...(cur?.n ?? []), i] }), 50),
    ),
  );
  const e = await store.kv.members.get('cas-probe');
  assert.deepEqual(e!.json<{ n: number[] }>().n.sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('nonces: a nonce is accepted once per handle', async () => {
  await claimNonce(store, 'alice', 'n0000000000000001', Date.now());
  await assert.rejects(claimNonce(store, 'alice', 'n0000000000000001', Date.now()), code('replay'));
  await claimNonce(store, 'carol', 'n0000000000000001', Date.now());
});

test("listKeys: every key as the stream's leader holds it, a deleted one listed (and read as absent), and no consumer left behind", async () => {
  const kv = store.kv.users;
  for (const k of ['list.b', 'list.a', 'list.c']) await kv.put(k, '{}');
  await kv.delete('list.c');
  const keys = (await listKeys(kv)).filter((k) => k.startsWith('list.'));
  assert.deepEqual(keys, ['list.a', 'list.b', 'list.c']);
  assert.equal(await readJson(kv, 'list.c'), null);
  for (let i = 0; i < 20; i++) await listKeys(kv);
  // kv.keys() would have left 20 consumers for 300 s (nats.js' inactive_threshold).
  assert.equal((await store.jsm.streams.info(`KV_${BUCKETS.users}`)).state.consumer_count, 0);
});

test('a blob reads back whole, one chunk or many; a missing one is not_found; 1,100 reads leave no consumer behind', async () => {
  const small = new Uint8Array([1, 2, 3, 4, 5]);
  const big = new Uint8Array(BLOB_MAX_BYTES).map((_, i) => (i * 7919) % 251);
  const a = await putBlob(store, 'room-blobs', small, 'alice');
  const b = await putBlob(store, 'room-blobs', big, 'alice');
  assert.deepEqual(await getBlob(store, 'room-blobs', a.sha256), small);
  assert.ok(((await store.blobs.info(`room-blobs/${b.sha256}`))?.chunks ?? 0) > 1, 'the big blob spans several chunks');
  assert.deepEqual(await getBlob(store, 'room-blobs', b.sha256), big);
  await assert.rejects(getBlob(store, 'room-blobs', 'f'.repeat(64)), code('not_found'));
  await assert.rejects(getBlob(store, 'other-room', a.sha256), code('not_found'), "a blob is found only in its own room");
  // nats.js' own object read leaves an ordered consumer for 5 min, and nats-server 2.15 stops a stream at 1,000.
  for (let i = 0; i < 1100; i++) await getBlob(store, 'room-blobs', a.sha256);
  assert.equal((await store.jsm.streams.info(`OBJ_${BLOB_STORE}`)).state.consumer_count, 0);
});
