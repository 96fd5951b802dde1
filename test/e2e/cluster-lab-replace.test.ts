// play replace-node on the lab's real Debian hosts (systemd, ssh): a cluster
// of node1-node3 at R3 loses node2 (its processes killed, its unit gone, its
// state folder deleted, as a host that died); the inventory names node7
// instead, and `play replace-node -e old=node2` runs under a steady stream of
// signed writes through node1 and node3. After: node2 is out of the meta
// group, every control-plane stream is at R3 on node1, node3 and node7 and
// current, nothing acknowledged is lost, the data written before is served
// through node7, and the deep check passes. Then `play remove-node`:
// refused below kv_replicas touching nothing; node2's wiped host joins as a
// new node, node8 (bringup); node3 is drained, stopped and removed under
// signed writes, its streams placed on the nodes that stay, and its entry
// taken out of the inventory, bringup restarts the others without their
// route to it. Then play backup; the three hosts and the controller's
// secrets/ and out/ wiped; play restore brings the same cluster back on the
// fresh hosts, every acknowledged write served. Hosts are put back as they
// were.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UnibusClient, rawPublicKey } from '../../src/client/index.js';
import { probeNodesOf } from '../../src/controller/probe/nodes.js';
import { probeCluster } from '../../src/controller/probe/probe.js';
import { loadInventory } from '../../src/inventory/load.js';
import { DEFAULT_NATS_SERVER } from '../../src/inventory/nats-releases.js';
import { ensureLab, holdLabLock, labSsh, type LabInfo } from '../lab/lab.js';
import { CLEAN, labInventory } from '../lab/cluster.js';
import { describeOnLab } from '../lab/suite.js';
import { makeProject, type Project } from '../harness/project.js';
import { metaOf, untilDead } from '../harness/meta.js';
import { lostBlobs, startWriter } from '../harness/writer.js';
import { play, type PlayRun } from '../harness/play.js';

const why = (r: PlayRun) => `${r.stderr}\n${r.results.filter((x) => x.status === 'failed').map((x) => `${x.task} @ ${x.host}: ${x.reason}`).join('\n')}`;

describeOnLab('play replace-node, remove-node, backup and restore on the lab (4 systemd hosts of 7)', { timeout: 20 * 60_000 }, () => {
  let lab: LabInfo;
  let p: Project;
  let base: string[];
  const seed = randomBytes(32);
  const adminPub = rawPublicKey(seed).toString('hex');
  /** node1, node2, node3, and the replacement (node7). */
  const used = () => [0, 1, 2, 6].map((i) => lab.hosts[i]!);
  const url = (i: number) => `http://${used()[i]!.ip}:8470`;
  const ops = (i: number) => new UnibusClient({ baseUrl: url(i), handle: 'ops', seed });
  let lock: ChildProcess | undefined;
  let written: { room: string; acked: string[] } | undefined;
  /** node2's host, wiped by the replace test, as the node remove-node's test adds. */
  const node8 = () => ({ ...used()[1]!, name: 'node8' });
  /** The cluster the backup is taken of: node1, node7, and node8 after remove-node took node3 out. */
  let live = () => [used()[0]!, used()[2]!, used()[3]!];
  const changedOn = (r: PlayRun, task: string) => r.results.filter((x) => x.task === task && x.status === 'changed').map((x) => x.host).sort();

  before(async () => {
    // node1-3 for the cluster, and a host the other lab suites leave alone (the runner's are node4-6).
    lab = await ensureLab(7);
    lock = await holdLabLock(lab);
    await Promise.all(used().map((h) => labSsh(lab, h, CLEAN)));
    const text = labInventory(lab, lab.hosts.slice(0, 3), { kvReplicas: 3, adminPub, nats: DEFAULT_NATS_SERVER });
    p = await makeProject(text, []);
    writeFileSync(p.inventory, text);
    base = ['-i', p.inventory, '--json'];
  });
  after(async () => {
    if (lab && process.env.UNIBUS_LAB_KEEP !== '1') await Promise.all(used().map((h) => labSsh(lab, h, CLEAN)));
    await p?.cleanup();
    if (lock?.pid) process.kill(-lock.pid, 'SIGKILL');
  });

  test('node2 dies with its state; node7 replaces it under signed writes; nothing acknowledged is lost', async (t) => {
    const [n1, n2, n3, n4] = used().map((h) => h.name);
    const up = await play(['bringup', ...base], 600_000);
    assert.equal(up.code, 0, why(up));
    await ops(0).createRoom('before-replace');
    // A host that died: its processes killed (no lame duck), its unit and state gone.
    const dead = await labSsh(lab, used()[1]!, 'systemctl kill --signal=SIGKILL membershipd; systemctl disable --now membershipd 2>/dev/null; rm -rf /var/lib/unibus; systemctl is-active membershipd; true');
    assert.match(dead.stdout, /inactive|failed/);
    writeFileSync(p.inventory, labInventory(lab, [used()[0]!, used()[2]!, used()[3]!], { kvReplicas: 3, adminPub, nats: DEFAULT_NATS_SERVER }));
    assert.ok(!readFileSync(p.inventory, 'utf8').includes(`name: ${n2}`));
    await untilDead(p.inventory, p.dir, n2!);

    const writer = await startWriter([url(0), url(2)], 'ops', seed);
    const t0 = Date.now();
    const run = await play(['replace-node', ...base, '-e', `old=${n2}`], 600_000);
    const seconds = (Date.now() - t0) / 1000;
    const stats = await writer.stop();
    assert.equal(run.code, 0, why(run));
    const removal = run.results.find((x) => x.task === 'dead node removed; every stream at its replicas on live peers')!;
    assert.equal(removal.status, 'changed', removal.reason);
    // The whole play bounds the target's span (its start to every stream at R3 and current on the new peers).
    t.diagnostic(`replace-node on the lab: ${seconds.toFixed(1)} s from the play's start to verified; ${removal.reason}; writes ${stats.acked.length} acknowledged, ${stats.retries} retries, ${stats.failed} failed`);

    const meta = await metaOf(p.inventory, p.dir);
    assert.deepEqual(meta.peers.map((x) => x.name).sort(), [n1, n3, n4].sort());
    const r = await probeCluster(probeNodesOf(loadInventory(p.inventory)), join(p.dir, 'out'));
    for (const s of r.streams) {
      assert.equal(s.replicas, 3, s.name);
      assert.deepEqual([s.leader, ...s.peers.map((x) => x.name)].sort(), [n1, n3, n4].sort(), `${s.name}: placed on the live peers`);
      assert.ok(s.peers.every((x) => x.current), `${s.name}: every copy current`);
    }
    assert.equal(stats.failed, 0, 'no signed write failed');
    assert.deepEqual(await lostBlobs(ops(3), writer.room, stats.acked), [], 'every acknowledged write is read back through node7');
    assert.ok((await ops(3).listRooms()).rooms.includes('before-replace'));
    const v = await play(['verify', ...base, '--tags', 'deep'], 300_000);
    assert.equal(v.code, 0, why(v));
    written = { room: writer.room, acked: stats.acked };
  });

  test('remove-node: refused below kv_replicas touching nothing; node8 added; node3 drained and removed under signed writes', async (t) => {
    assert.ok(written, 'the replace test left node1, node3 and node7 running');
    const [n1, , n3, n7] = used().map((h) => h.name);
    const below = await play(['remove-node', ...base, '-e', `old=${n3}`]);
    assert.notEqual(below.code, 0);
    assert.match(why(below), new RegExp(`removing ${n3} leaves 2 nodes for kv_replicas 3: nothing drained`));
    assert.equal((await labSsh(lab, used()[2]!, 'systemctl is-active membershipd')).stdout.trim(), 'active', `${n3} still runs`);
    // node2's host, its state wiped as it died, comes back as a new node: bringup starts it and restarts the others with their new routes.
    writeFileSync(p.inventory, labInventory(lab, [used()[0]!, used()[2]!, used()[3]!, node8()], { kvReplicas: 3, adminPub, nats: DEFAULT_NATS_SERVER }));
    const grow = await play(['bringup', ...base], 600_000);
    assert.equal(grow.code, 0, why(grow));
    assert.deepEqual(changedOn(grow, 'restart (systemd)'), [n1, n3, n7].sort(), 'the others restarted with their route to node8');

    const writer = await startWriter([url(0), url(3)], 'ops', seed);
    const t0 = Date.now();
    const run = await play(['remove-node', ...base, '-e', `old=${n3}`], 600_000);
    const seconds = (Date.now() - t0) / 1000;
    const stats = await writer.stop();
    assert.equal(run.code, 0, why(run));
    const removal = run.results.find((x) => x.task === 'node removed; every stream at its replicas on the nodes that stay')!;
    assert.equal(removal.status, 'changed', removal.reason);
    t.diagnostic(`remove-node on the lab: ${seconds.toFixed(1)} s; ${removal.reason}; writes ${stats.acked.length} acknowledged, ${stats.retries} retries, ${stats.failed} failed`);
    assert.deepEqual((await labSsh(lab, used()[2]!, 'systemctl is-active membershipd; systemctl is-enabled membershipd')).stdout.trim().split('\n'), ['inactive', 'disabled'], `${n3} stopped, and not started at boot`);
    assert.deepEqual((await metaOf(p.inventory, p.dir)).peers.map((x) => x.name).sort(), [n1, n7, 'node8'].sort());
    assert.equal(stats.failed, 0, 'no signed write failed');
    assert.deepEqual(await lostBlobs(ops(0), writer.room, stats.acked), [], 'every acknowledged write is read back');
    // The operator's next step: the entry out of the inventory, and bringup re-renders the routes.
    live = () => [used()[0]!, used()[3]!, node8()];
    writeFileSync(p.inventory, labInventory(lab, live(), { kvReplicas: 3, adminPub, nats: DEFAULT_NATS_SERVER }));
    const up = await play(['bringup', ...base], 600_000);
    assert.equal(up.code, 0, why(up));
    assert.deepEqual(changedOn(up, 'restart (systemd)'), [n1, n7, 'node8'].sort(), 'the others restarted without their route to node3');
    const r = await probeCluster(probeNodesOf(loadInventory(p.inventory)), join(p.dir, 'out'));
    for (const s of r.streams) {
      assert.equal(s.replicas, 3, s.name);
      assert.deepEqual([s.leader, ...s.peers.map((x) => x.name)].sort(), [n1, n7, 'node8'].sort(), `${s.name}: placed on the nodes that stay`);
      assert.ok(s.peers.every((x) => x.current), `${s.name}: every copy current`);
    }
    assert.deepEqual(await lostBlobs(ops(0), written!.room, written!.acked), [], "the replace test's writes are all still served");
  });

  test('play backup, every host and the controller state wiped, play restore into the fresh hosts: the same data served', async (t) => {
    assert.ok(written, 'the replace test wrote the data');
    const b = await play(['backup', ...base]);
    assert.equal(b.code, 0, why(b));
    const [dir] = readdirSync(join(p.dir, 'backups')).filter((d) => !d.startsWith('.'));
    await Promise.all(live().map((h) => labSsh(lab, h, CLEAN)));
    for (const d of ['secrets', 'out']) rmSync(join(p.dir, d), { recursive: true, force: true });
    const t0 = Date.now();
    const r = await play(['restore', ...base, '-e', `from=backups/${dir}`], 600_000);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.code, 0, why(r));
    t.diagnostic(`restore into 3 fresh lab hosts, bringup included: ${seconds.toFixed(1)} s; ${r.results.find((x) => x.task === 'control plane restored')!.reason}`);
    assert.ok((await ops(3).listRooms()).rooms.includes('before-replace'));
    assert.deepEqual(await lostBlobs(ops(0), written!.room, written!.acked), [], 'every write acknowledged before the backup is served after the restore');
    const v = await play(['verify', ...base], 300_000);
    assert.equal(v.code, 0, why(v));
  });
});
