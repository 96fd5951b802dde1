// Operator commands on real clusters: `user add|revoke|list` through the
// internal identity, and backup then restore into a fresh cluster.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal, makeUser, openTestStore, type Internal } from '../harness/control-plane.js';
import { clientFor, makeV1Handler } from '../harness/control-app.js';
import type { Store } from '../../src/daemon/store/buckets.js';
import { getUser } from '../../src/daemon/store/users.js';
import { backupStore, type BackupDoc } from '../../src/daemon/store/backup.js';
import { run as userCmd } from '../../src/daemon/commands/user.js';
import { run as backupCmd } from '../../src/daemon/commands/backup.js';
import { run as restoreCmd } from '../../src/daemon/commands/restore.js';

const src = { id: makeInternal(), servers: [] as TestNatsServer[], nc: undefined as NatsConnection | undefined, store: undefined as Store | undefined };
const dst = { id: makeInternal(), servers: [] as TestNatsServer[], nc: undefined as NatsConnection | undefined, store: undefined as Store | undefined };
let dir: string;
const admin = makeUser('admin');
const bob = makeUser('bob');

async function idFile(name: string, id: Internal): Promise<string> {
  const f = join(dir, `${name}.nk`);
  await writeFile(f, new TextDecoder().decode(id.seed) + '\n', { mode: 0o600 });
  return f;
}

async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => {};
  try {
    return await fn();
  } finally {
    console.log = log;
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unibus-op-'));
  for (const [c, hosts] of [
    [src, ['127.0.0.47', '127.0.0.48', '127.0.0.49']],
    [dst, ['127.0.0.44', '127.0.0.45', '127.0.0.46']],
  ] as const) {
    c.servers = await makeServers({ hosts: [...hosts], internalNkey: c.id.publicKey });
    await startServers(c.servers);
    c.nc = await connectInternal(c.servers[1].url, c.id);
    c.store = await openTestStore(c.nc, 3);
  }
});

after(async () => {
  for (const c of [src, dst]) {
    await c.nc?.close().catch(() => {});
    await stopServers(c.servers);
  }
  await rm(dir, { recursive: true, force: true });
});

test('user add seeds the first admin; idempotent; another key refused; revoke; list', async () => {
  const f = await idFile('src', src.id);
  const base = ['--nats-url', src.servers[0].url, '--internal-id-file', f];
  assert.equal(await quiet(() => userCmd(['add', '--handle', 'admin', '--sign-pub', admin.sign_pub, '--role', 'admin', ...base])), 0);
  const first = await getUser(src.store!, 'admin');
  assert.equal(first?.role, 'admin');
  assert.equal(await quiet(() => userCmd(['add', '--handle', 'admin', '--sign-pub', admin.sign_pub, '--role', 'admin', ...base])), 0);
  assert.deepEqual(await getUser(src.store!, 'admin'), first);
  assert.equal(await quiet(() => userCmd(['add', '--handle', 'admin', '--sign-pub', bob.sign_pub, '--role', 'admin', ...base])), 1);
  assert.equal(await quiet(() => userCmd(['add', '--handle', 'x', '--sign-pub', bob.sign_pub, '--role', 'admin', ...base])), 1);
  assert.equal(await quiet(() => userCmd(['add', '--handle', 'temp', '--sign-pub', makeUser('temp').sign_pub, '--role', 'member', ...base])), 0);
  assert.equal(await quiet(() => userCmd(['revoke', '--handle', 'temp', ...base])), 0);
  assert.equal((await getUser(src.store!, 'temp'))?.status, 'revoked');
  assert.equal(await quiet(() => userCmd(['list', ...base])), 0);
  // The seeded admin can use the API right away.
  const A = clientFor(admin, makeV1Handler({ store: src.store! }));
  assert.equal((await A.me()).role, 'admin');
});

test('operator commands refuse a non-loopback NATS URL without --ca', async () => {
  const f = await idFile('src', src.id);
  assert.equal(await quiet(() => userCmd(['list', '--nats-url', 'nats://10.99.1.11:4250', '--internal-id-file', f])), 1);
  assert.equal(await quiet(() => backupCmd(['--out', join(dir, 'x.json'), '--nats-url', 'nats://10.99.1.11:4250', '--internal-id-file', f])), 1);
});

function comparable(d: BackupDoc) {
  return { buckets: Object.fromEntries(Object.entries(d.buckets).map(([b, es]) => [b, es.map((e) => [e.key, e.value])])), blobs: d.blobs };
}

test('backup then restore into a fresh cluster yields identical state; newer data is not overwritten unless forced', async () => {
  const h = makeV1Handler({ store: src.store! });
  const A = clientFor(admin, h);
  const B = clientFor(bob, h);
  await A.addUser({ handle: 'bob', sign_pub: bob.sign_pub, box_pub: bob.box_pub, role: 'member' });
  await B.createRoom('ops');
  await A.addMember('ops', 'admin');
  await B.putKeys('ops', 2, { bob: Buffer.alloc(40, 1).toString('base64'), admin: Buffer.alloc(40, 2).toString('base64') });
  const blob = await B.putBlob('ops', Buffer.from('the blob'));

  const out = join(dir, 'backup.json');
  const srcId = await idFile('src', src.id);
  assert.equal(await quiet(() => backupCmd(['--out', out, '--nats-url', src.servers[2].url, '--internal-id-file', srcId])), 0);
  assert.equal((await stat(out)).mode & 0o777, 0o600);

  const dstBase = ['--in', out, '--nats-url', dst.servers[0].url, '--internal-id-file', await idFile('dst', dst.id)];
  assert.equal(await quiet(() => restoreCmd(dstBase)), 0);
  const a = await backupStore(src.store!);
  const b = await backupStore(dst.store!);
  assert.deepEqual(comparable(b), comparable(a));
  assert.ok(a.buckets.UNIBUS_users.length >= 3 && a.blobs.length === 1);
  // The restored cluster serves the same state through the API.
  const B2 = clientFor(bob, makeV1Handler({ store: dst.store! }));
  assert.deepEqual(Buffer.from(await B2.getBlob('ops', blob.sha256)).toString(), 'the blob');
  assert.equal((await B2.getRoom('ops')).epoch, 2);

  // A change on the target after the backup is newer: refused, then forced.
  await clientFor(admin, makeV1Handler({ store: dst.store! })).revokeUser('bob');
  assert.equal(await quiet(() => restoreCmd(dstBase)), 1);
  assert.equal((await getUser(dst.store!, 'bob'))?.status, 'revoked');
  assert.equal(await quiet(() => restoreCmd([...dstBase, '--force'])), 0);
  assert.equal((await getUser(dst.store!, 'bob'))?.status, 'active');

  // A tampered file is refused before anything is written.
  const doc = JSON.parse(await readFile(out, 'utf8')) as BackupDoc;
  doc.buckets.UNIBUS_users[0].value = Buffer.from('{}').toString('base64');
  await writeFile(join(dir, 'bad.json'), JSON.stringify(doc), { mode: 0o600 });
  assert.equal(await quiet(() => restoreCmd(['--in', join(dir, 'bad.json'), ...dstBase.slice(2)])), 1);
});
