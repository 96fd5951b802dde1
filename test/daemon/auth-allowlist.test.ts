// The data-plane allowlist computed from a real store, and its on-disk cache.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal, makeUser, openTestStore } from '../harness/control-plane.js';
import type { Store } from '../../src/daemon/store/buckets.js';
import { addUser, revokeUser } from '../../src/daemon/store/users.js';
import { addMember, createRoom } from '../../src/daemon/store/rooms.js';
import { computeAllowlist, loadCachedAllowlist, saveAllowlist, DENY_SUBJECTS } from '../../src/daemon/auth/allowlist.js';
import { AclWatcher } from '../../src/daemon/auth/acl-watch.js';
import { nkeyFromRaw } from '../../src/protocol/ed25519.js';
import type { AllowUser } from '../../src/daemon/nats/conf.js';

let servers: TestNatsServer[] = [];
let nc: NatsConnection;
let store: Store;
let dir: string;
const id = makeInternal();
const ann = makeUser('ann');
const ben = makeUser('ben');
const cat = makeUser('cat');
const nk = (u: { sign_pub: string }) => nkeyFromRaw(Buffer.from(u.sign_pub, 'hex'));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unibus-acl-'));
  servers = await makeServers({ hosts: ['127.0.0.42'], internalNkey: id.publicKey });
  await startServers(servers);
  nc = await connectInternal(servers[0].url, id);
  store = await openTestStore(nc, 1);
  for (const u of [ann, ben, cat]) await addUser(store, { handle: u.handle, sign_pub: u.sign_pub, role: 'member' });
  await createRoom(store, 'red', 'ann');
  await createRoom(store, 'blue', 'ben');
  await addMember(store, 'blue', 'ann', 'ben');
});

after(async () => {
  await nc?.close().catch(() => {});
  await stopServers(servers);
  await rm(dir, { recursive: true, force: true });
});

function find(list: AllowUser[], u: { sign_pub: string }): AllowUser | undefined {
  return list.find((x) => x.nkey === nk(u));
}

test('each active user gets its rooms and inbox; $JS, $KV, $O, $SYS are denied', async () => {
  const list = await computeAllowlist(store);
  assert.equal(list.length, 3);
  const a = find(list, ann)!;
  assert.deepEqual(a.permissions?.publish?.allow, ['unibus.room.blue.>', 'unibus.room.red.>', '_INBOX_ann.>']);
  assert.deepEqual(a.permissions?.subscribe?.allow, ['unibus.room.blue.>', 'unibus.room.red.>', '_INBOX_ann.>']);
  assert.deepEqual(a.permissions?.publish?.deny, DENY_SUBJECTS);
  assert.deepEqual(a.permissions?.subscribe?.deny, ['$JS.>', '$KV.>', '$O.>', '$SYS.>']);
  // A user in no room still has a non-empty allow list (empty would mean everything).
  assert.deepEqual(find(list, cat)!.permissions?.subscribe?.allow, ['_INBOX_cat.>']);
  await revokeUser(store, 'cat');
  assert.equal(find(await computeAllowlist(store), cat), undefined);
});

test('the watcher applies changes and caches them 0600; the cache reads back', async () => {
  const applied: AllowUser[][] = [];
  const cacheFile = join(dir, 'state', 'allowlist.json');
  const w = new AclWatcher(store, { apply: async (u) => void applied.push(u), cacheFile, debounceMs: 10 });
  await w.start();
  try {
    assert.equal(applied.length, 1);
    await addMember(store, 'red', 'ben', 'ann');
    const until = Date.now() + 10_000;
    while (applied.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal(applied.length, 2);
    assert.ok(find(applied[1], ben)!.permissions!.publish!.allow!.includes('unibus.room.red.>'));
    assert.equal((await stat(cacheFile)).mode & 0o777, 0o600);
    assert.deepEqual(await loadCachedAllowlist(cacheFile), applied[1]);
  } finally {
    w.stop();
  }
});

test('a missing cache is null; a corrupt cache is an error, never an empty list', async () => {
  assert.equal(await loadCachedAllowlist(join(dir, 'none.json')), null);
  await writeFile(join(dir, 'bad.json'), '{"users": [{"nkey": "not-a-key"}]}');
  await assert.rejects(loadCachedAllowlist(join(dir, 'bad.json')), /not an allowlist cache/);
  await saveAllowlist(join(dir, 'ok.json'), []);
  assert.deepEqual(await loadCachedAllowlist(join(dir, 'ok.json')), []);
});
