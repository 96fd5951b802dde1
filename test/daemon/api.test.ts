// Every /v1 endpoint's happy path and each refusal, on a real single nats-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/nats-core';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal, makeUser, openTestStore } from '../harness/control-plane.js';
import { clientFor, makeV1Handler } from '../harness/control-app.js';
import type { Store } from '../../src/daemon/store/buckets.js';
import { followStore, unfollowStore } from '../../src/daemon/store/follow.js';
import { addUser, listUsers } from '../../src/daemon/store/users.js';
import { ApiClientError, type UnibusClient } from '../../src/client/client.js';

let servers: TestNatsServer[] = [];
let nc: NatsConnection;
let store: Store;
const id = makeInternal();
const admin = makeUser('admin');
const bob = makeUser('bob');
const carol = makeUser('carol');
const dave = makeUser('dave');
let A: UnibusClient, B: UnibusClient, C: UnibusClient, D: UnibusClient;
const sealed = (n: number) => Buffer.alloc(48, n).toString('base64');

before(async () => {
  servers = await makeServers({ hosts: ['127.0.0.43'], internalNkey: id.publicKey });
  await startServers(servers);
  nc = await connectInternal(servers[0].url, id);
  store = await openTestStore(nc, 1);
  followStore(store);
  await addUser(store, { handle: 'admin', sign_pub: admin.sign_pub, role: 'admin' });
  const h = makeV1Handler({ store });
  [A, B, C, D] = [admin, bob, carol, dave].map((u) => clientFor(u, h));
});

after(async () => {
  unfollowStore(store);
  await nc?.close().catch(() => {});
  await stopServers(servers);
});

async function refused(p: Promise<unknown>, status: number, code: string): Promise<ApiClientError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ApiClientError, String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.status, status, e.message);
    return e;
  }
  assert.fail(`expected ${status} ${code}`);
}

test('users: admin adds (idempotent), members cannot; me; list; get', async () => {
  const r = await A.addUser({ handle: 'bob', sign_pub: bob.sign_pub, box_pub: bob.box_pub, role: 'member' });
  assert.equal(r.created, true);
  assert.equal((await A.addUser({ handle: 'bob', sign_pub: bob.sign_pub, box_pub: bob.box_pub, role: 'member' })).created, false);
  await refused(A.addUser({ handle: 'bob', sign_pub: carol.sign_pub, role: 'member' }), 409, 'conflict');
  await A.addUser({ handle: 'carol', sign_pub: carol.sign_pub, box_pub: carol.box_pub, role: 'member' });
  await A.addUser({ handle: 'dave', sign_pub: dave.sign_pub, role: 'member' });
  await refused(B.addUser({ handle: 'eve', sign_pub: dave.sign_pub, role: 'admin' }), 403, 'forbidden');
  assert.equal((await B.me()).handle, 'bob');
  assert.deepEqual((await A.listUsers()).users.map((u) => u.handle), ['admin', 'bob', 'carol', 'dave']);
  await refused(B.listUsers(), 403, 'forbidden');
  assert.equal((await A.getUser('carol')).box_pub, carol.box_pub);
  await refused(B.getUser('carol'), 403, 'forbidden');
  await refused(A.getUser('nobody'), 404, 'not_found');
});

test('bad input is refused with a clear message and changes nothing', async () => {
  const before = await listUsers(store);
  const e1 = await refused(A.addUser({ handle: 'Bad Handle', sign_pub: dave.sign_pub, role: 'member' }), 400, 'bad_request');
  assert.match(e1.message, /handle/);
  const e2 = await refused(A.addUser({ handle: 'erin', sign_pub: 'abcd', role: 'member' }), 400, 'bad_request');
  assert.match(e2.message, /sign_pub.*64/);
  await refused(A.addUser({ handle: 'erin', sign_pub: dave.sign_pub, role: 'root' as 'admin' }), 400, 'bad_request');
  const e3 = await A.raw('POST', '/v1/users', '{"handle": "erin", ');
  assert.equal(e3.status, 400);
  assert.equal(e3.json<{ error: { code: string } }>().error.code, 'bad_request');
  assert.match(e3.json<{ error: { message: string } }>().error.message, /malformed JSON/);
  const e4 = await A.raw('POST', '/v1/users', { handle: 'erin', sign_pub: dave.sign_pub, role: 'member', extra: 1 });
  assert.equal(e4.status, 400);
  assert.match(e4.json<{ error: { message: string } }>().error.message, /extra: unknown field/);
  await refused(A.createRoom('a.b'), 400, 'bad_request');
  assert.deepEqual(await listUsers(store), before);
});

test('an oversize body is refused 413', async () => {
  const r = await A.raw('POST', '/v1/rooms', { name: 'big', pad: 'x'.repeat(70 * 1024) });
  assert.equal(r.status, 413);
  assert.equal(r.json<{ error: { code: string } }>().error.code, 'too_large');
  assert.deepEqual((await A.listRooms()).rooms, []);
});

test('signature refusals: tampered, replayed, stale, unknown handle', async () => {
  const t = await B.raw('GET', '/v1/users/me', undefined, { tamper: (h) => (h['x-unibus-sig'] = h['x-unibus-sig'].replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))) });
  assert.equal(t.status, 401);
  assert.equal(t.json<{ error: { code: string } }>().error.code, 'bad_signature');
  const ok = await B.raw('GET', '/v1/users/me', undefined, { nonce: 'fixed-nonce-0000001' });
  assert.equal(ok.status, 200);
  const again = await B.raw('GET', '/v1/users/me', undefined, { nonce: 'fixed-nonce-0000001' });
  assert.equal(again.status, 401);
  assert.equal(again.json<{ error: { code: string } }>().error.code, 'replay');
  const stale = await B.raw('GET', '/v1/users/me', undefined, { ts: Date.now() - 5 * 60_000 });
  assert.equal(stale.json<{ error: { code: string } }>().error.code, 'stale_timestamp');
  const ghost = clientFor(makeUser('ghost'), makeV1Handler({ store }));
  const g = await ghost.raw('GET', '/v1/users/me');
  assert.equal(g.status, 401);
  assert.deepEqual(g.json(), t.json());
  const unsigned = await makeV1Handler({ store })(new Request('http://unibus.test/v1/users/me'));
  assert.equal(unsigned.status, 401);
});

test('rooms: create, list mine, get; members managed by owner or admin only', async () => {
  const room = await B.createRoom('ops');
  assert.equal(room.owner, 'bob');
  await refused(C.createRoom('ops'), 409, 'conflict');
  await refused(C.addMember('ops', 'carol'), 403, 'forbidden');
  await refused(C.getRoom('ops'), 403, 'not_member');
  const d = await B.addMember('ops', 'carol');
  assert.deepEqual(d.members, [
    { handle: 'bob', box_pub: bob.box_pub },
    { handle: 'carol', box_pub: carol.box_pub },
  ]);
  await A.addMember('ops', 'dave');
  assert.deepEqual((await C.listRooms()).rooms, ['ops']);
  assert.deepEqual((await D.getRoom('ops')).members.map((m) => m.handle), ['bob', 'carol', 'dave']);
  await refused(C.removeMember('ops', 'dave'), 403, 'forbidden');
  await refused(B.addMember('ops', 'nobody'), 404, 'not_found');
});

test('keys: a member reads only their own; removal requires a new epoch', async () => {
  await B.putKeys('ops', 1, { bob: sealed(1), carol: sealed(2), dave: sealed(3) });
  assert.equal((await C.getKey('ops', 1)).sealed, sealed(2));
  assert.equal((await D.getKey('ops', 1)).sealed, sealed(3));
  await refused(A.getKey('ops', 1), 403, 'not_member');
  await refused(B.putKeys('ops', 1, { bob: 'short' }), 400, 'bad_request');
  await refused(B.putKeys('ops', 1, { admin: sealed(9) }), 400, 'bad_request');
  const after = await B.removeMember('ops', 'dave');
  assert.equal(after.rekey_required, true);
  assert.deepEqual((await D.listRooms()).rooms, []);
  await refused(D.getKey('ops', 1), 403, 'not_member');
  await refused(B.putKeys('ops', 1, { carol: sealed(4) }), 409, 'conflict');
  await refused(B.putKeys('ops', 2, { bob: sealed(5) }), 400, 'bad_request');
  assert.deepEqual(await C.putKeys('ops', 2, { bob: sealed(5), carol: sealed(6) }), { epoch: 2 });
  const g = await B.getRoom('ops');
  assert.equal(g.epoch, 2);
  assert.equal(g.rekey_required, false);
  assert.equal((await C.getKey('ops', 2)).sealed, sealed(6));
  await refused(C.getKey('ops', 7), 404, 'not_found');
});

test('a room-scoped request reads the members once, and only after its signature verifies', async () => {
  // Members are read through the node's copy (store/follow.ts): count its reads.
  const stats = store.follow!.members.stats;
  const r0 = stats.reads;
  const reads = () => stats.reads - r0;
  const forged = await C.raw('GET', '/v1/rooms/ops/keys/2', undefined, { tamper: (h) => (h['x-unibus-sig'] = h['x-unibus-sig'].replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))) });
  assert.equal(forged.status, 401);
  assert.equal(reads(), 0, 'a forged signature costs no members read');
  const replay = await C.raw('GET', '/v1/rooms/ops/keys/2', undefined, { nonce: 'prefetch-nonce-00001' });
  assert.equal(replay.status, 200);
  assert.equal(reads(), 1);
  const again = await C.raw('GET', '/v1/rooms/ops/keys/2', undefined, { nonce: 'prefetch-nonce-00001' });
  assert.equal(again.json<{ error: { code: string } }>().error.code, 'replay', 'a replay is refused even though its read ran');
  await refused(D.getKey('ops', 2), 403, 'not_member');
  assert.equal((await C.getKey('ops', 2)).sealed, sealed(6));
  assert.equal(reads(), 4, 'one members read per signed request');
});

test('blobs: members put and get by sha256; others refused; size limit', async () => {
  const data = Buffer.from('hello blob '.repeat(1000));
  const r = await C.putBlob('ops', data);
  assert.equal(r.sha256, createHash('sha256').update(data).digest('hex'));
  assert.equal(r.size, data.length);
  assert.deepEqual(Buffer.from(await B.getBlob('ops', r.sha256)), data);
  await refused(D.getBlob('ops', r.sha256), 403, 'not_member');
  await refused(D.putBlob('ops', data), 403, 'not_member');
  await refused(B.getBlob('ops', 'f'.repeat(64)), 404, 'not_found');
  await refused(B.getBlob('ops', 'xyz'), 400, 'bad_request');
  await refused(B.putBlob('ops', Buffer.alloc(1024 * 1024 + 1)), 413, 'too_large');
});

test('a revoked user is refused everywhere', async () => {
  await refused(A.revokeUser('admin'), 400, 'bad_request');
  assert.equal((await A.revokeUser('carol')).status, 'revoked');
  await refused(C.me(), 403, 'revoked');
  await refused(C.getKey('ops', 2), 403, 'revoked');
  await refused(B.addMember('ops', 'carol'), 404, 'not_found');
});
