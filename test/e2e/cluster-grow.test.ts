// Adding nodes: a local cluster of three (127.0.0.71-73) grows to five by
// two inventory lines and `play bringup`: --check names the new nodes'
// certificates and the re-rendered routes of the others; the run mints and
// starts n4 and n5, restarts n1-n3 one at a time with their new routes,
// keeps every control-plane stream at the inventory's kv_replicas, and the
// data written before is served through a new node; a second bringup
// changes nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UnibusClient } from '../../src/client/index.js';
import { probeNodesOf } from '../../src/controller/probe/nodes.js';
import { probeCluster } from '../../src/controller/probe/probe.js';
import { loadInventory } from '../../src/inventory/load.js';
import { play, type PlayRun } from '../harness/play.js';
import { makeProject, opsInventory, type Project } from '../harness/project.js';

const seed = randomBytes(32);
let p: Project;
let base: string[];

before(async () => {
  const text = opsInventory('127.0.0.7', seed);
  p = await makeProject(text, ['127.0.0.71', '127.0.0.72', '127.0.0.73', '127.0.0.74', '127.0.0.75']);
  base = ['-i', p.inventory, '--json'];
});
after(async () => {
  await p?.cleanup();
});

const why = (r: PlayRun) => `${r.stderr}\n${r.results.filter((x) => x.status === 'failed').map((x) => `${x.task} @ ${x.host}: ${x.reason}`).join('\n')}`;
const changed = (r: PlayRun, task: string) => r.results.filter((x) => x.task === task && x.status === 'changed').map((x) => x.host).sort();
const ops = (node: number) => new UnibusClient({ baseUrl: `http://127.0.0.7${node}:${/^    http: (\d+)/m.exec(readFileSync(p.inventory, 'utf8'))![1]}`, handle: 'ops', seed });

test('three nodes grow to five by the inventory and bringup', { timeout: 900_000 }, async (t) => {
  await t.test('three nodes up, a room written', async () => {
    const up = await play(['bringup', ...base], 600_000);
    assert.equal(up.code, 0, why(up));
    await ops(1).createRoom('before-growth');
  });

  await t.test('n4 and n5 added: --check names what changes; the run brings them in and keeps the streams at R3', async () => {
    writeFileSync(p.inventory, readFileSync(p.inventory, 'utf8').replace(/(\n  - name: n3\n    public_ip: 127\.0\.0\.73\n)/, '$1  - name: n4\n    public_ip: 127.0.0.74\n  - name: n5\n    public_ip: 127.0.0.75\n'));
    assert.match(readFileSync(p.inventory, 'utf8'), /name: n5/);
    const check = await play(['bringup', ...base, '--check'], 600_000);
    assert.equal(check.code, 0, why(check));
    assert.match(check.results.find((x) => x.task === 'certificates and secrets' || /certificates/.test(x.task))!.reason, /n4.*n5|n5.*n4/s);
    const up = await play(['bringup', ...base], 600_000);
    assert.equal(up.code, 0, why(up));
    assert.deepEqual(changed(up, 'restart (process manager)'), ['n1', 'n2', 'n3'], 'the old nodes restarted with their new routes');
    assert.deepEqual(changed(up, 'start (process manager, every node at once)'), ['n4', 'n5']);
    const r = await probeCluster(probeNodesOf(loadInventory(p.inventory)), join(p.dir, 'out'));
    assert.deepEqual(r.nodes.map((n) => [n.name, n.http, n.routes]), ['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => [n, 200, 4]));
    for (const s of r.streams) {
      assert.equal(s.replicas, 3, `${s.name}: kv_replicas unchanged`);
      assert.ok(s.peers.every((x) => x.current), `${s.name}: every replica current`);
    }
  });

  await t.test('the data written before is served through a new node; a second bringup changes nothing', async () => {
    assert.ok((await ops(5).listRooms()).rooms.includes('before-growth'));
    await ops(4).createRoom('after-growth');
    assert.ok((await ops(2).listRooms()).rooms.includes('after-growth'));
    const again = await play(['bringup', ...base], 600_000);
    assert.equal(again.code, 0, why(again));
    assert.deepEqual(again.results.filter((x) => x.status === 'changed').map((x) => `${x.task} @ ${x.host}`), []);
    const v = await play(['verify', ...base]);
    assert.equal(v.code, 0, why(v));
    const stop = await play(['stop', ...base]);
    assert.equal(stop.code, 0, why(stop));
  });
});
