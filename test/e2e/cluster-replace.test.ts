// Replacing a dead node: a local cluster of three (127.0.0.101-103) loses n2
// (its processes killed, its state folder deleted, as a host that died). The
// inventory's n2 entry becomes n4 (127.0.0.104), and `play replace-node -e
// old=n2`, under a steady stream of signed writes through n1 and n3: refuses
// a live node or one still in the inventory touching nothing; --check
// touches nothing; the run starts n4, removes n2 from the meta group, every
// control-plane stream is back at R3 on n1, n3 and n4 and current, n1 and n3
// restart one at a time with their new routes, and the play ends verified.
// Nothing acknowledged is lost, the data written before is served through
// n4, and a second run changes nothing. Then `play remove-node`: refused
// below kv_replicas; with n5 added by the inventory and bringup (--check
// names its certificates, the others restart with their new routes, the
// streams stay at kv_replicas), n3 is drained, stopped and removed under
// signed writes, and after its entry leaves the inventory, bringup restarts
// the others without their route to it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UnibusClient } from '../../src/client/index.js';
import { probeNodesOf } from '../../src/controller/probe/nodes.js';
import { probeCluster } from '../../src/controller/probe/probe.js';
import { loadInventory } from '../../src/inventory/load.js';
import { play, type PlayRun } from '../harness/play.js';
import { killStarted, makeProject, opsInventory, pidOf, type Project } from '../harness/project.js';
import { lostBlobs, startWriter } from '../harness/writer.js';
import { metaOf as readMeta, untilDead } from '../harness/meta.js';

const seed = randomBytes(32);
let p: Project;
let base: string[];

before(async () => {
  p = await makeProject(opsInventory('127.0.0.10', seed), ['127.0.0.101', '127.0.0.102', '127.0.0.103', '127.0.0.104', '127.0.0.105']);
  base = ['-i', p.inventory, '--json'];
});
after(async () => {
  await p?.cleanup();
});

const why = (r: PlayRun) => `${r.stderr}\n${r.results.filter((x) => x.status === 'failed').map((x) => `${x.task} @ ${x.host}: ${x.reason}`).join('\n')}`;
const changedOn = (r: PlayRun, task: string) => r.results.filter((x) => x.task === task && x.status === 'changed').map((x) => x.host).sort();
const httpPort = () => /^    http: (\d+)/m.exec(readFileSync(p.inventory, 'utf8'))![1];
const url = (n: number) => `http://127.0.0.10${n}:${httpPort()}`;
const ops = (n: number) => new UnibusClient({ baseUrl: url(n), handle: 'ops', seed });
const metaOf = () => readMeta(p.inventory, p.dir);

test('a dead node replaced by a new host under signed writes', { timeout: 900_000 }, async (t) => {
  await t.test('three nodes up, a room written; a live node is refused and nothing is touched', async () => {
    const up = await play(['bringup', ...base], 600_000);
    assert.equal(up.code, 0, why(up));
    await ops(1).createRoom('before-replace');
    const meta = await metaOf();
    assert.deepEqual(meta.peers.map((x) => x.name).sort(), ['n1', 'n2', 'n3'], 'the system identity reads the meta group');
    const inInventory = await play(['replace-node', ...base, '-e', 'old=n2']);
    assert.notEqual(inInventory.code, 0);
    assert.match(why(inInventory), /"n2" is still a node of the inventory/);
    assert.equal(inInventory.results.filter((x) => x.status === 'changed').length, 0);
  });

  await t.test('n2 dies; the inventory names n4 instead; a live n2 is refused, --check touches nothing', async () => {
    writeFileSync(p.inventory, readFileSync(p.inventory, 'utf8').replace(/\n {2}- name: n2\n {4}public_ip: 127\.0\.0\.102\n/, '\n  - name: n4\n    public_ip: 127.0.0.104\n'));
    assert.match(readFileSync(p.inventory, 'utf8'), /name: n4/);
    assert.doesNotMatch(readFileSync(p.inventory, 'utf8'), /name: n2/);
    const live = await play(['replace-node', ...base, '-e', 'old=n2']);
    assert.notEqual(live.code, 0);
    assert.match(why(live), /n2 is online/);
    assert.ok(pidOf(p, 'n2'), 'n2 still runs: the refusal touched nothing');
    // The runner's deploy lease folder aside, nothing is on n4.
    const staged = () => ['app', 'tls', 'cluster.env', 'internal.nk'].filter((f) => existsSync(join(p.stateOf('n4'), f)));
    assert.deepEqual(staged(), [], 'nothing staged for n4');
    killStarted(join(p.dir, '.unibus', 'local'), 'n2');
    rmSync(p.stateOf('n2'), { recursive: true, force: true });
    await untilDead(p.inventory, p.dir, 'n2');
    const check = await play(['replace-node', ...base, '-e', 'old=n2', '--check']);
    assert.equal(check.code, 0, why(check));
    assert.deepEqual(staged(), [], '--check staged nothing for n4');
    assert.deepEqual((await metaOf()).peers.map((x) => x.name).sort(), ['n1', 'n2', 'n3'], '--check removed nothing');
  });

  await t.test('replace-node: n4 joins, n2 leaves the meta group, every stream at R3 on n1, n3, n4; nothing acknowledged lost', async () => {
    const writer = await startWriter([url(1), url(3)], 'ops', seed);
    const t0 = Date.now();
    const run = await play(['replace-node', ...base, '-e', 'old=n2'], 600_000);
    const seconds = (Date.now() - t0) / 1000;
    const stats = await writer.stop();
    assert.equal(run.code, 0, why(run));
    const removal = run.results.find((x) => x.task === 'dead node removed; every stream at its replicas on live peers')!;
    assert.equal(removal.status, 'changed', removal.reason);
    t.diagnostic(`replace-node ${seconds.toFixed(1)} s; removal: ${removal.reason}; writes ${stats.acked.length} acknowledged, ${stats.retries} retries, ${stats.failed} failed`);
    assert.deepEqual(changedOn(run, 'restart (process manager)'), ['n1', 'n3'], 'the old nodes restarted with their new routes');
    assert.deepEqual(changedOn(run, 'start (process manager, every node at once)'), ['n4']);
    const meta = await metaOf();
    assert.deepEqual(meta.peers.map((x) => x.name).sort(), ['n1', 'n3', 'n4']);
    assert.ok(meta.peers.every((x) => !x.offline));
    const r = await probeCluster(probeNodesOf(loadInventory(p.inventory)), join(p.dir, 'out'));
    for (const s of r.streams) {
      assert.equal(s.replicas, 3, s.name);
      assert.deepEqual([s.leader, ...s.peers.map((x) => x.name)].sort(), ['n1', 'n3', 'n4'], `${s.name}: placed on the live peers`);
      assert.ok(s.peers.every((x) => x.current), `${s.name}: every copy current`);
    }
    assert.equal(stats.failed, 0, 'no signed write failed');
    assert.deepEqual(await lostBlobs(ops(4), writer.room, stats.acked), [], 'every acknowledged write is read back through n4');
  });

  await t.test('the data written before is served through n4; a second run changes nothing; verify --tags deep passes', async () => {
    assert.ok((await ops(4).listRooms()).rooms.includes('before-replace'));
    await ops(4).createRoom('after-replace');
    assert.ok((await ops(1).listRooms()).rooms.includes('after-replace'));
    const again = await play(['replace-node', ...base, '-e', 'old=n2'], 600_000);
    assert.equal(again.code, 0, why(again));
    assert.deepEqual(again.results.filter((x) => x.status === 'changed').map((x) => `${x.task} @ ${x.host}`), []);
    const v = await play(['verify', ...base, '--tags', 'deep'], 300_000);
    assert.equal(v.code, 0, why(v));
  });

  await t.test('remove-node: refused below kv_replicas touching nothing; with n5 added, n3 drained and removed under signed writes', async () => {
    const below = await play(['remove-node', ...base, '-e', 'old=n3']);
    assert.notEqual(below.code, 0);
    assert.match(why(below), /removing n3 leaves 2 nodes for kv_replicas 3: nothing drained/);
    assert.ok(pidOf(p, 'n3'), 'n3 still runs');
    // Adding a node: --check names its certificates; the run starts it and restarts the others with their new routes.
    writeFileSync(p.inventory, readFileSync(p.inventory, 'utf8').replace(/(\n {2}- name: n4\n {4}public_ip: 127\.0\.0\.104\n)/, '$1  - name: n5\n    public_ip: 127.0.0.105\n'));
    const growCheck = await play(['bringup', ...base, '--check'], 600_000);
    assert.equal(growCheck.code, 0, why(growCheck));
    assert.match(growCheck.results.find((x) => x.task === 'certificates and secrets')!.reason, /n5/);
    const grow = await play(['bringup', ...base], 600_000);
    assert.equal(grow.code, 0, why(grow));
    assert.deepEqual(changedOn(grow, 'start (process manager, every node at once)'), ['n5']);
    assert.deepEqual(changedOn(grow, 'restart (process manager)'), ['n1', 'n3', 'n4'], 'the others restarted with their new routes');
    const grown = await probeCluster(probeNodesOf(loadInventory(p.inventory)), join(p.dir, 'out'));
    assert.deepEqual(grown.nodes.map((n) => [n.name, n.http, n.routes]).sort(), ['n1', 'n3', 'n4', 'n5'].map((n) => [n, 200, 3]));
    for (const s of grown.streams) assert.equal(s.replicas, 3, `${s.name}: kv_replicas unchanged by the new node`);
    const check = await play(['remove-node', ...base, '-e', 'old=n3', '--check']);
    assert.equal(check.code, 0, why(check));
    assert.ok(pidOf(p, 'n3'), '--check stopped nothing');
    const writer = await startWriter([url(1), url(4)], 'ops', seed);
    const t0 = Date.now();
    const run = await play(['remove-node', ...base, '-e', 'old=n3'], 600_000);
    const seconds = (Date.now() - t0) / 1000;
    const stats = await writer.stop();
    assert.equal(run.code, 0, why(run));
    const removal = run.results.find((x) => x.task === 'node removed; every stream at its replicas on the nodes that stay')!;
    assert.equal(removal.status, 'changed', removal.reason);
    assert.match(removal.reason, /next: delete its entry from the inventory and run play bringup/);
    t.diagnostic(`remove-node ${seconds.toFixed(1)} s; ${removal.reason}; writes ${stats.acked.length} acknowledged, ${stats.retries} retries, ${stats.failed} failed`);
    assert.equal(pidOf(p, 'n3'), null, 'n3 stopped');
    assert.deepEqual((await metaOf()).peers.map((x) => x.name).sort(), ['n1', 'n4', 'n5']);
    assert.equal(stats.failed, 0, 'no signed write failed');
    assert.deepEqual(await lostBlobs(ops(5), writer.room, stats.acked), [], 'every acknowledged write is read back through n5');
    const again = await play(['remove-node', ...base, '-e', 'old=n3'], 600_000);
    assert.equal(again.code, 0, why(again));
    assert.deepEqual(again.results.filter((x) => x.status === 'changed').map((x) => `${x.task} @ ${x.host}`), [], 'a re-run changes nothing');
    // The operator's next step: the entry out of the inventory, and bringup re-renders the routes.
    writeFileSync(p.inventory, readFileSync(p.inventory, 'utf8').replace(/\n {2}- name: n3\n {4}public_ip: 127\.0\.0\.103\n/, '\n'));
    const up = await play(['bringup', ...base], 600_000);
    assert.equal(up.code, 0, why(up));
    assert.deepEqual(changedOn(up, 'restart (process manager)'), ['n1', 'n4', 'n5'], 'the others restarted without their route to n3');
    const r = await probeCluster(probeNodesOf(loadInventory(p.inventory)), join(p.dir, 'out'));
    for (const s of r.streams) assert.deepEqual([s.leader, ...s.peers.map((x) => x.name)].sort(), ['n1', 'n4', 'n5'], s.name);
    const stop = await play(['stop', ...base]);
    assert.equal(stop.code, 0, why(stop));
  });
});
