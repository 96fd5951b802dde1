// The typed client and `unibus api` over real HTTP against a real nats-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, createRouter, toNodeListener } from 'h3';
import type { NatsConnection } from '@nats-io/nats-core';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal, makeUser, openTestStore } from '../harness/control-plane.js';
import { registerV1Routes } from '../../src/daemon/http/routes.js';
import type { Store } from '../../src/daemon/store/buckets.js';
import { addUser } from '../../src/daemon/store/users.js';
import { UnibusClient } from '../../src/client/client.js';
import { run as api } from '../../src/cli/api.js';

let servers: TestNatsServer[] = [];
let nc: NatsConnection;
let store: Store;
let http: Server;
let url: string;
let dir: string;
const id = makeInternal();
const admin = makeUser('admin');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unibus-client-'));
  servers = await makeServers({ hosts: ['127.0.0.41'], internalNkey: id.publicKey });
  await startServers(servers);
  nc = await connectInternal(servers[0].url, id);
  store = await openTestStore(nc, 1);
  await addUser(store, { handle: 'admin', sign_pub: admin.sign_pub, role: 'admin' });
  const app = createApp();
  const router = createRouter();
  registerV1Routes(router, { store });
  app.use(router);
  http = createServer(toNodeListener(app));
  await new Promise<void>((r) => http.listen(0, '127.0.0.41', () => r()));
  url = `http://127.0.0.41:${(http.address() as { port: number }).port}`;
});

after(async () => {
  await new Promise((r) => http?.close(r));
  await nc?.close().catch(() => {});
  await stopServers(servers);
  await rm(dir, { recursive: true, force: true });
});

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const [log, error] = [console.log, console.error];
  let out = '';
  let err = '';
  console.log = (s: string) => (out += s + '\n');
  console.error = (s: string) => (err += s + '\n');
  try {
    return { code: await fn(), out, err };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

test('the client signs requests that verify over real HTTP, query string included', async () => {
  const c = new UnibusClient({ baseUrl: url, handle: 'admin', seed: admin.seed });
  assert.equal((await c.me()).handle, 'admin');
  const r = await c.raw('GET', '/v1/users/me?view=full&x=%20y');
  assert.equal(r.status, 200);
  const room = await c.createRoom('http-room');
  assert.equal(room.owner, 'admin');
  const blob = await c.putBlob('http-room', Buffer.from('over http'));
  assert.equal(Buffer.from(await c.getBlob('http-room', blob.sha256)).toString(), 'over http');
  const big = await c.raw('POST', '/v1/rooms', { name: 'x'.repeat(100 * 1024) });
  assert.equal(big.status, 413);
});

test('unibus api: keygen, then calls signed with the key file', async () => {
  const adminKey = join(dir, 'admin.key');
  await writeFile(adminKey, Buffer.from(admin.seed).toString('hex') + '\n', { mode: 0o600 });
  const g = await capture(() => api(['keygen', '--out', join(dir, 'bob.key')]));
  assert.equal(g.code, 0);
  const gen = JSON.parse(g.out) as { sign_pub: string; nkey: string };
  assert.match(gen.sign_pub, /^[0-9a-f]{64}$/);
  assert.match(gen.nkey, /^U[A-Z2-7]{55}$/);
  const base = ['--url', url, '--handle', 'admin', '--key-file', adminKey];
  const add = await capture(() => api([...base, 'user-add', 'bob', gen.sign_pub, '--role', 'member']));
  assert.equal(add.code, 0, add.err);
  assert.equal(JSON.parse(add.out).created, true);
  const bob = ['--url', url, '--handle', 'bob', '--key-file', join(dir, 'bob.key')];
  const me = await capture(() => api([...bob, 'me']));
  assert.equal(JSON.parse(me.out).handle, 'bob');
  assert.equal((await capture(() => api([...bob, 'room-create', 'bobs']))).code, 0);
  assert.deepEqual(JSON.parse((await capture(() => api([...bob, 'rooms']))).out).rooms, ['bobs']);
  const denied = await capture(() => api([...bob, 'users']));
  assert.equal(denied.code, 1);
  assert.match(denied.err, /403 forbidden/);
  await chmod(join(dir, 'bob.key'), 0o644);
  const open = await capture(() => api([...bob, 'me']));
  assert.equal(open.code, 2);
  assert.match(open.err, /too open/);
  assert.equal((await readFile(join(dir, 'bob.key'), 'utf8')).trim().length, 64);
});
