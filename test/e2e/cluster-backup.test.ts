// play backup and play restore on a local cluster (127.0.0.61-63, process
// manager): a backup of users, rooms, members and a blob, with the
// project's secrets and their hashes, into backups/<stamp>/ (0700, 0600);
// then every host's state and the controller's secrets/ and out/ gone (fresh
// hosts, a fresh checkout), and play restore brings the same cluster back:
// the same data (a backup taken after equals the first), the same users'
// signed requests served, verify passing. A second restore writes nothing; a
// write made after the backup refuses a restore until forced; a damaged
// backup touches nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UnibusClient } from '../../src/client/index.js';
import { play, type PlayRun } from '../harness/play.js';
import { makeProject, opsInventory, type Project } from '../harness/project.js';

const NODES = ['n1', 'n2', 'n3'];
const seed = randomBytes(32);
let p: Project;
let base: string[];

before(async () => {
  const text = opsInventory('127.0.0.6', seed);
  p = await makeProject(text, ['127.0.0.61', '127.0.0.62', '127.0.0.63']);
  base = ['-i', p.inventory, '--json'];
});
after(async () => {
  await p?.cleanup();
});

const why = (r: PlayRun) => `${r.stderr}\n${r.results.filter((x) => x.status === 'failed').map((x) => `${x.task} @ ${x.host}: ${x.reason}`).join('\n')}`;
const ops = (node = 1) => new UnibusClient({ baseUrl: `http://127.0.0.6${node}:${/^    http: (\d+)/m.exec(readFileSync(p.inventory, 'utf8'))![1]}`, handle: 'ops', seed });
const backups = () => (existsSync(join(p.dir, 'backups')) ? readdirSync(join(p.dir, 'backups')).filter((d) => !d.startsWith('.')).sort() : []);
/** A backup's keys, values and blobs: not its time, its digest, or when each entry was written (a restore writes it anew). */
const dataOf = (dir: string) => {
  const d = JSON.parse(readFileSync(join(p.dir, 'backups', dir, 'control-plane.json'), 'utf8')) as { buckets: Record<string, { key: string; value: string }[]>; blobs: unknown[] };
  return { buckets: Object.fromEntries(Object.entries(d.buckets).map(([b, es]) => [b, es.map((e) => ({ key: e.key, value: e.value }))])), blobs: d.blobs };
};

test('play backup, then play restore into fresh hosts: the same data, the same users served', { timeout: 900_000 }, async (t) => {
  const blob = randomBytes(2048);
  await t.test('bringup, data written, backup', async () => {
    const up = await play(['bringup', ...base], 600_000);
    assert.equal(up.code, 0, why(up));
    const c = ops();
    await c.createRoom('ops-room');
    await c.addUser({ handle: 'bob', sign_pub: randomBytes(32).toString('hex'), role: 'member' });
    await c.addMember('ops-room', 'bob');
    await c.putBlob('ops-room', blob);
    const check = await play(['backup', ...base, '--check']);
    assert.equal(check.code, 0, why(check));
    assert.deepEqual(backups(), [], '--check writes no backup');
    const b = await play(['backup', ...base]);
    assert.equal(b.code, 0, why(b));
    const task = b.results.find((x) => x.task === 'control plane and secrets backed up')!;
    assert.equal(task.status, 'changed');
    assert.match(task.reason, /^backup .*backups\/\d{8}T\d{6}Z: \d+ entries, 1 blobs, \d+ secret files, sha256 [0-9a-f]{16}/);
    const [dir] = backups();
    const folder = join(p.dir, 'backups', dir!);
    assert.equal(statSync(folder).mode & 0o777, 0o700);
    for (const f of ['control-plane.json', 'SHA256SUMS', 'secrets/client-ca.key', 'secrets/cluster.pass']) assert.equal(statSync(join(folder, f)).mode & 0o777, 0o600, f);
    const data = JSON.stringify(dataOf(dir!));
    for (const s of ['ops-room', 'bob']) assert.ok(data.includes(s), `${s} in the backup`);
  });

  await t.test('a damaged backup touches nothing', async () => {
    const [dir] = backups();
    const f = join(p.dir, 'backups', dir!, 'secrets', 'cluster.pass');
    const good = readFileSync(f);
    writeFileSync(f, Buffer.concat([good, Buffer.from('x')]));
    try {
      const r = await play(['restore', ...base, '-e', `from=backups/${dir}`]);
      assert.notEqual(r.code, 0);
      assert.match(why(r), /cluster\.pass: sha256 does not match SHA256SUMS/);
      assert.equal(r.results.filter((x) => x.status === 'changed').length, 0, 'nothing changed');
    } finally {
      writeFileSync(f, good);
    }
  });

  await t.test('every host and the controller state gone; play restore brings the same cluster back', async () => {
    const stop = await play(['stop', ...base]);
    assert.equal(stop.code, 0, why(stop));
    for (const n of NODES) rmSync(p.stateOf(n), { recursive: true, force: true });
    for (const d of ['secrets', 'out']) rmSync(join(p.dir, d), { recursive: true, force: true });
    const [dir] = backups();
    const t0 = Date.now();
    const r = await play(['restore', ...base, '-e', `from=backups/${dir}`], 600_000);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.code, 0, why(r));
    t.diagnostic(`restore into fresh hosts, bringup included: ${seconds.toFixed(1)} s`);
    assert.match(r.results.find((x) => x.task === 'secrets from the backup')!.reason, /secret files from the backup into/);
    assert.match(r.results.find((x) => x.task === 'control plane restored')!.reason, /entries written, 0 unchanged, 1 blobs written/);
    assert.equal(r.results.find((x) => x.task === 'first admin')?.status, 'skipped', 'the admin comes with the backup');
    assert.equal(r.results.find((x) => x.task === 'first admin (present from the backup, or added)')?.status, 'ok', 'present from the backup');
    // The same users: ops's signed requests are served (her key and role came back), and the room's members too.
    const c = ops(2);
    assert.equal((await c.me()).role, 'admin');
    assert.deepEqual((await c.getRoom('ops-room')).members.map((m) => m.handle).sort(), ['bob', 'ops']);
    assert.deepEqual(Buffer.from(await c.getBlob('ops-room', (await import('node:crypto')).createHash('sha256').update(blob).digest('hex'))), blob);
    const again = await play(['backup', ...base]);
    assert.equal(again.code, 0, why(again));
    const [first, second] = backups();
    assert.deepEqual(dataOf(second!), dataOf(first!), 'a backup taken after the restore holds the same data');
    const v = await play(['verify', ...base]);
    assert.equal(v.code, 0, why(v));
  });

  await t.test('a second restore writes nothing; data newer than the backup refuses it until forced', async () => {
    const [dir] = backups();
    const same = await play(['restore', ...base, '-e', `from=backups/${dir}`], 600_000);
    assert.equal(same.code, 0, why(same));
    assert.match(same.results.find((x) => x.task === 'control plane restored')!.reason, /: 0 entries written, \d+ unchanged, 0 blobs written/);
    assert.equal(same.results.find((x) => x.task === 'control plane restored')!.status, 'ok');
    await ops().addUser({ handle: 'carol', sign_pub: randomBytes(32).toString('hex'), role: 'member' });
    await ops().addMember('ops-room', 'carol');
    const refused = await play(['restore', ...base, '-e', `from=backups/${dir}`], 600_000);
    assert.notEqual(refused.code, 0);
    assert.match(why(refused), /the target has newer data than the backup \(UNIBUS_members\/ops-room\); run again with -e force=true to overwrite/);
    const forced = await play(['restore', ...base, '-e', `from=backups/${dir}`, '-e', 'force=true'], 600_000);
    assert.equal(forced.code, 0, why(forced));
    assert.deepEqual((await ops().getRoom('ops-room')).members.map((m) => m.handle).sort(), ['bob', 'ops'], 'the backup as it was');
  });

  await t.test('secrets that differ from the backup refuse it', async () => {
    const [dir] = backups();
    const f = join(p.dir, 'secrets', 'cluster.pass');
    const good = readFileSync(f);
    writeFileSync(f, 'another password\n', { mode: 0o600 });
    try {
      const r = await play(['restore', ...base, '-e', `from=backups/${dir}`]);
      assert.notEqual(r.code, 0);
      assert.match(why(r), /cluster\.pass differs from the backup's: this project's cluster trusts other keys/);
    } finally {
      writeFileSync(f, good, { mode: 0o600 });
    }
    const stop = await play(['stop', ...base]);
    assert.equal(stop.code, 0, why(stop));
  });
});
