// Rooms left out of step by requests that stopped between their writes, on a
// real nats-server: a create stopped after its room record, a member add
// stopped before the index, an index naming a room its member left. The
// dry run names each repair and writes nothing; the repair rolls each one
// forward, leaves entries younger than its grace alone, and a second run
// finds nothing. `membershipd repair` is the same through the operator path.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { NatsConnection } from '@nats-io/nats-core';
import type { KV } from '@nats-io/kv';
import type { Store } from '../../src/daemon/store/buckets.js';
import { createRoom, listRoomsOf, getMembers } from '../../src/daemon/store/rooms.js';
import { addUser } from '../../src/daemon/store/users.js';
import { repairRooms } from '../../src/daemon/store/repair.js';
import { run as repairCommand } from '../../src/daemon/commands/repair.js';
import { connectInternal, makeInternal, makeUser, openTestStore } from '../harness/control-plane.js';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';

const id = makeInternal();
let servers: TestNatsServer[] = [];
let nc: NatsConnection;
let store: Store;
const dir = mkdtempSync(join(tmpdir(), 'unibus-repair-'));

before(async () => {
  servers = await makeServers({ hosts: ['127.0.0.53'], internalNkey: id.publicKey });
  await startServers(servers);
  nc = await connectInternal(servers[0]!.url, id);
  store = await openTestStore(nc, 1);
  for (const h of ['ann', 'ben']) await addUser(store, { handle: h, sign_pub: makeUser(h).sign_pub, role: 'member' });
});

after(async () => {
  await nc.close().catch(() => {});
  await stopServers(servers);
  rmSync(dir, { recursive: true, force: true });
});

test('half-done room writes are named, then rolled forward; fresh ones are left to their request', { timeout: 60_000 }, async () => {
  await createRoom(store, 'whole', 'ann');
  // A create stopped after its first write.
  await store.kv.rooms.put('half', JSON.stringify({ name: 'half', owner: 'ann', created_at: new Date().toISOString() }));
  // A member add stopped before the index: ben is in `whole` but his index does not say so.
  const m = (await getMembers(store, 'whole'))!;
  await store.kv.members.put('whole', JSON.stringify({ ...m, members: { ...m.members, ben: { added_at: new Date().toISOString(), added_by: 'ann' } } }));
  // An index naming a room its member is not in.
  await store.kv.roomsByMember.put('ann', JSON.stringify({ handle: 'ann', rooms: ['ghost', 'whole'] }));

  assert.deepEqual(await repairRooms(store, { graceMs: 60_000 }), [], 'everything is younger than the grace: left alone');
  const dryTold: string[] = [];
  const found = await repairRooms(store, { dryRun: true, graceMs: 0, onRepair: (r) => dryTold.push(r.what) });
  assert.deepEqual(dryTold, [], 'a dry run makes no repair to tell');
  assert.deepEqual(found.map((r) => r.what).sort(), [
    'room half had no members record: ann (its owner) written as its member',
    'rooms_by_member.ann named ghost, where ann is no member: dropped',
    'ann is a member of half: added to rooms_by_member.ann',
    'ben is a member of whole: added to rooms_by_member.ben',
  ].sort());
  assert.equal(await getMembers(store, 'half'), null, 'the dry run wrote nothing');

  const told: string[] = [];
  const done = await repairRooms(store, { graceMs: 0, onRepair: (r) => told.push(r.what) });
  assert.equal(done.length, 4);
  assert.deepEqual(told.sort(), done.map((r) => r.what).sort(), 'each repair is told as it is made');
  assert.deepEqual(Object.keys((await getMembers(store, 'half'))!.members), ['ann']);
  assert.deepEqual(await listRoomsOf(store, 'ann'), ['half', 'whole']);
  assert.deepEqual(await listRoomsOf(store, 'ben'), ['whole']);
  assert.deepEqual(await repairRooms(store, { graceMs: 0 }), [], 'a second run finds nothing');
});

test('membershipd repair runs it through the operator path', { timeout: 60_000 }, async () => {
  await store.kv.rooms.put('half2', JSON.stringify({ name: 'half2', owner: 'ben', created_at: new Date().toISOString() }));
  const idFile = join(dir, 'internal.nk');
  await writeFile(idFile, new TextDecoder().decode(id.seed) + '\n', { mode: 0o600 });
  const lines: string[] = [];
  const log = console.log;
  console.log = (l: string) => void lines.push(l);
  try {
    const flags = ['--nats-url', servers[0]!.url, '--internal-id-file', idFile, '--grace', '0'];
    assert.equal(await repairCommand([...flags, '--dry-run']), 0);
    assert.equal(await getMembers(store, 'half2'), null);
    assert.equal(await repairCommand(flags), 0);
  } finally {
    console.log = log;
  }
  assert.deepEqual(lines, [
    'would repair: room half2 had no members record: ben (its owner) written as its member',
    'would repair: ben is a member of half2: added to rooms_by_member.ben',
    '2 repair(s) found (dry run: nothing written)',
    'repaired: room half2 had no members record: ben (its owner) written as its member',
    'repaired: ben is a member of half2: added to rooms_by_member.ben',
    '2 repair(s)',
  ]);
  assert.deepEqual(await listRoomsOf(store, 'ben'), ['half2', 'whole']);
});

test('a listing that misses keys (its consumer on a replica behind) makes no repair: each is read again first', { timeout: 60_000 }, async () => {
  await createRoom(store, 'late', 'ann');
  const m = (await getMembers(store, 'late'))!;
  await store.kv.members.put('late', JSON.stringify({ ...m, members: { ...m.members, ben: { added_at: new Date().toISOString(), added_by: 'ann' } } }));
  await store.kv.roomsByMember.put('ben', JSON.stringify({ handle: 'ben', rooms: [...(await listRoomsOf(store, 'ben')), 'late'].sort() }));
  assert.deepEqual(await repairRooms(store, { graceMs: 0 }), [], 'all in step beforehand');
  // The listings of rooms and members as a replica that has not seen 'late' answers them.
  const without = (kv: KV): KV => new Proxy(kv, {
    get: (t, k) => (k === 'keys' ? async () => (async function* () { for await (const x of await t.keys()) if (x !== 'late') yield x; })() : Reflect.get(t, k)),
  });
  const behind = { ...store, kv: { ...store.kv, rooms: without(store.kv.rooms), members: without(store.kv.members) } } as Store;
  assert.deepEqual(await repairRooms(behind, { graceMs: 0 }), [], 'nothing to repair: late is whole at the leader');
  assert.ok((await listRoomsOf(store, 'ann')).includes('late'), 'ann keeps late in her index');
  assert.ok((await listRoomsOf(store, 'ben')).includes('late'), 'ben keeps late in his index');
  assert.deepEqual(Object.keys((await getMembers(store, 'late'))!.members).sort(), ['ann', 'ben']);
});
