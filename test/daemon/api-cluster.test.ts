// The control plane on a real 3-node loopback cluster at R3: read-after-write
// across nodes, live data-plane ACLs on every node, revocation cutting open
// connections on all three, and fail-closed 503s with two nodes killed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { nkeyAuthenticator, PermissionViolationError, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal, makeUser, openTestStore, type TestUser } from '../harness/control-plane.js';
import { clientFor, makeV1Handler } from '../harness/control-app.js';
import type { Store } from '../../src/daemon/store/buckets.js';
import { QuorumGuard } from '../../src/daemon/store/quorum.js';
import { followStore, unfollowStore } from '../../src/daemon/store/follow.js';
import { addUser, getUser, revokeUser } from '../../src/daemon/store/users.js';
import { AclWatcher } from '../../src/daemon/auth/acl-watch.js';
import { inboxPrefix } from '../../src/daemon/auth/allowlist.js';
import { nkeySeedFromRaw } from '../../src/protocol/ed25519.js';
import type { UnibusClient } from '../../src/client/client.js';
import { sleep } from '../../src/util/time.js';

const HOSTS = ['127.0.0.44', '127.0.0.45', '127.0.0.46'];
let servers: TestNatsServer[] = [];
const ncs: NatsConnection[] = [];
const userConns: NatsConnection[] = [];
const stores: Store[] = [];
const watchers: AclWatcher[] = [];
const guards: QuorumGuard[] = [];
const handlers: ((r: Request) => Promise<Response>)[] = [];
const id = makeInternal();
const admin = makeUser('admin');
const bob = makeUser('bob');
const carol = makeUser('carol');


async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}: ${String(last)}`);
}

/** The node reloads its allowlist shortly after a change: retry until a subscription holds. */
async function subscribeWhenAllowed(nc: NatsConnection, subject: string, opts: { max?: number } = {}): Promise<Subscription> {
  return waitFor(`subscription to ${subject}`, async () => {
    const sub = nc.subscribe(subject, opts);
    const r = await Promise.race([sub.closed.then(() => 'closed'), nc.flush().then(() => sleep(300)).then(() => 'open')]);
    return r === 'open' ? sub : undefined;
  });
}

function client(u: TestUser, node: number): UnibusClient {
  return clientFor(u, handlers[node]);
}

async function connectUser(u: TestUser, node: number): Promise<NatsConnection> {
  const nc = await connect({
    servers: servers[node].url,
    authenticator: nkeyAuthenticator(nkeySeedFromRaw(u.seed)),
    inboxPrefix: inboxPrefix(u.handle),
    reconnect: false,
    ignoreClusterUpdates: true,
    timeout: 3000,
  });
  userConns.push(nc);
  return nc;
}

before(async () => {
  servers = await makeServers({ hosts: HOSTS, internalNkey: id.publicKey });
  await startServers(servers);
  for (const [i, s] of servers.entries()) {
    ncs[i] = await connectInternal(s.url, id);
    stores[i] = await openTestStore(ncs[i], 3);
    // As membershipd does: users and members are read from local copies.
    followStore(stores[i]);
    guards[i] = new QuorumGuard(stores[i], 250);
    await guards[i].start();
    // What each node's membershipd does: follow the buckets, render, SIGHUP its own server.
    watchers[i] = new AclWatcher(stores[i], { apply: (users) => s.setAllowlist(users) });
    await watchers[i].start();
    handlers[i] = makeV1Handler({ store: stores[i], guard: guards[i] });
  }
  await addUser(stores[0], { handle: 'admin', sign_pub: admin.sign_pub, role: 'admin' });
});

after(async () => {
  for (const s of stores) unfollowStore(s);
  for (const w of watchers) w.stop();
  for (const g of guards) g.stop();
  for (const c of [...userConns, ...ncs]) await c.close().catch(() => {});
  await stopServers(servers);
});

test('a write acknowledged through one node is read through every other node right after', async () => {
  await client(admin, 0).addUser({ handle: 'bob', sign_pub: bob.sign_pub, role: 'member' });
  await client(admin, 1).addUser({ handle: 'carol', sign_pub: carol.sign_pub, role: 'member' });
  for (let i = 0; i < 12; i++) {
    const room = `room-${i}`;
    await client(bob, i % 3).createRoom(room);
    await client(bob, i % 3).addMember(room, 'carol');
    const seen = await client(carol, (i + 1) % 3).getRoom(room);
    assert.deepEqual(seen.members.map((m) => m.handle), ['bob', 'carol']);
    assert.ok((await client(carol, (i + 2) % 3).listRooms()).rooms.includes(room));
    const data = Buffer.from(`blob ${i} `.repeat(200 * (i + 1)));
    const put = await client(bob, i % 3).putBlob(room, data);
    assert.deepEqual(Buffer.from(await client(carol, (i + 1) % 3).getBlob(room, put.sha256)), data);
  }
});

test('reads from the local copies see every write acknowledged through another node', async () => {
  for (let i = 0; i < 15; i++) {
    const [w, r] = [stores[i % 3], stores[(i + 1) % 3]];
    // The reading node holds a fresh barrier when the write lands elsewhere.
    await getUser(r, 'admin');
    const u = makeUser(`copy${i}`);
    await addUser(w, { handle: u.handle, sign_pub: u.sign_pub, role: 'member' });
    assert.equal((await getUser(r, u.handle))?.status, 'active', `round ${i}: the add`);
    await getUser(w, 'admin');
    await revokeUser(r, u.handle);
    assert.equal((await getUser(w, u.handle))?.status, 'revoked', `round ${i}: the revocation`);
  }
  // Many reads at once on one node share a barrier.
  const f = stores[0].follow!.users;
  const before = f.stats.barriers;
  await Promise.all(Array.from({ length: 40 }, () => getUser(stores[0], 'admin')));
  assert.ok(f.stats.barriers - before <= 2, `${f.stats.barriers - before} barriers for 40 reads`);
  assert.equal(f.stats.leaderReads, 0);
  // No copy took a jump over deleted values (a user added, then revoked) for one past a value the leader holds.
  for (const s of stores) assert.deepEqual([s.follow!.users.stats.skips, s.follow!.members.stats.skips], [0, 0]);
});

test('a user nkey may use its rooms and inbox only, never $JS', async () => {
  await client(bob, 0).createRoom('ops');
  await client(admin, 1).createRoom('secret');
  const nc = await waitFor('bob on node 2', () => connectUser(bob, 1));
  const sub = await subscribeWhenAllowed(nc, 'unibus.room.ops.>', { max: 1 });
  nc.publish('unibus.room.ops.chat', 'hi');
  for await (const m of sub) assert.equal(m.string(), 'hi');
  await assert.rejects(nc.request('$JS.API.INFO', '', { timeout: 2000 }));
  const other = nc.subscribe('unibus.room.secret.>');
  const closed = await Promise.race([other.closed, sleep(5000).then(() => 'still open')]);
  assert.ok(closed instanceof PermissionViolationError, `subscription to a room bob is not in: ${String(closed)}`);
  const jsSub = nc.subscribe('$KV.UNIBUS_users.>');
  const closed2 = await Promise.race([jsSub.closed, sleep(5000).then(() => 'still open')]);
  assert.ok(closed2 instanceof PermissionViolationError);
  // Carol is not in `ops`: her subscription there is refused.
  const cc = await waitFor('carol on node 3', () => connectUser(carol, 2));
  const s3 = cc.subscribe('unibus.room.ops.>');
  assert.ok((await Promise.race([s3.closed, sleep(5000).then(() => 'still open')])) instanceof PermissionViolationError);
  await nc.close();
  await cc.close();
});

test('a member removed from a room loses its subjects on every node', async () => {
  await client(bob, 0).addMember('ops', 'carol');
  const conns = await Promise.all([0, 1, 2].map((n) => waitFor(`carol on node ${n + 1}`, () => connectUser(carol, n))));
  // Once every node has reloaded with carol in `ops`, her subscriptions there hold.
  const subs = await Promise.all(conns.map((nc) => subscribeWhenAllowed(nc, 'unibus.room.ops.>')));
  await client(bob, 1).removeMember('ops', 'carol');
  const ends = await Promise.race([Promise.all(subs.map((s) => s.closed)), sleep(10_000).then(() => 'still subscribed')]);
  assert.ok(Array.isArray(ends), String(ends));
  for (const e of ends as unknown[]) assert.ok(e instanceof PermissionViolationError, String(e));
  for (const c of conns) await c.close();
});

test('revoking a user cuts its open connections on all three nodes', async () => {
  const conns = await Promise.all([0, 1, 2].map((n) => waitFor(`carol on node ${n + 1}`, () => connectUser(carol, n))));
  const closed = conns.map((c) => c.closed());
  await client(admin, 2).revokeUser('carol');
  // Refused by the API on every node as soon as the revocation is acknowledged.
  for (const n of [0, 1, 2]) {
    const r = await client(carol, n).raw('GET', '/v1/users/me');
    assert.equal(r.status, 403, `node ${n + 1} served a revoked user`);
    assert.equal(r.json<{ error: { code: string } }>().error.code, 'revoked');
  }
  const results = await Promise.race([Promise.all(closed), sleep(10_000).then(() => 'not all closed')]);
  assert.ok(Array.isArray(results), String(results));
  for (const [n] of servers.entries()) {
    await assert.rejects(connectUser(carol, n), `carol must not log in to node ${n + 1}`);
  }
});

test('with two nodes killed every authenticated request is refused 503', async () => {
  await servers[1].kill();
  await servers[2].kill();
  const c = client(bob, 0);
  const calls: [string, () => Promise<{ status: number; json<T>(): T }>][] = [
    ['me', () => c.raw('GET', '/v1/users/me')],
    ['rooms', () => c.raw('GET', '/v1/rooms')],
    ['room', () => c.raw('GET', '/v1/rooms/ops')],
    ['create', () => c.raw('POST', '/v1/rooms', { name: 'after-loss' })],
    ['users', () => client(admin, 0).raw('GET', '/v1/users')],
  ];
  for (let round = 0; round < 2; round++) {
    for (const [name, call] of calls) {
      const r = await call();
      assert.equal(r.status, 503, `${name} round ${round}: ${JSON.stringify(r.json())}`);
      assert.equal(r.json<{ error: { code: string } }>().error.code, 'unavailable');
    }
  }
});
