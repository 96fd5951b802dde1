// `play upgrade` on the default local inventory (three nodes, process
// manager, 127.0.0.51-53): brought up on nats-server 2.10.27, the pin changed
// to the default release and upgraded under a steady signed workload. Every
// node is restarted once, the meta leader last; no write fails or is lost;
// every node then runs the new release. A second upgrade changes nothing,
// and a downgrade is refused with nothing staged or restarted.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { UnibusClient } from '../../src/client/index.js';
import { DEFAULT_NATS_SERVER } from '../../src/inventory/nats-releases.js';
import { probeNodesOf } from '../../src/controller/probe/nodes.js';
import { probeCluster } from '../../src/controller/probe/probe.js';
import { loadInventory } from '../../src/inventory/load.js';
import { play, type PlayRun } from '../harness/play.js';
import { makeProject, opsInventory, pidOf, type Project } from '../harness/project.js';
import { lostBlobs, startWriter } from '../harness/writer.js';

const NODES = ['n1', 'n2', 'n3'];
const FROM = '2.10.27';
const seed = randomBytes(32);
let p: Project;
let base: string[];

/** `text` with cluster.nats_server.version set to `version`. */
function pinned(text: string, version: string): string {
  const out = text.replace(/^ {4}version: "[0-9.]+"$/m, `    version: "${version}"`);
  assert.ok(out.includes(`    version: "${version}"`), 'the inventory has its nats_server.version line');
  return out;
}
/** Edits the project's inventory (its free ports kept) to pin `version`. */
const pin = (version: string) => writeFileSync(p.inventory, pinned(readFileSync(p.inventory, 'utf8'), version));

before(async () => {
  const text = opsInventory('127.0.0.5', seed);
  p = await makeProject(pinned(text, FROM), ['127.0.0.51', '127.0.0.52', '127.0.0.53']);
  base = ['-i', p.inventory, '--json'];
});
after(async () => {
  await p?.cleanup();
});

const why = (r: PlayRun) => `${r.stderr}\n${r.results.filter((x) => x.status === 'failed').map((x) => `${x.task} @ ${x.host}: ${x.reason}`).join('\n')}`;
const restarted = (r: PlayRun) => r.results.filter((x) => x.task === 'restart (process manager)' && x.status === 'changed').map((x) => x.host);
const report = () => probeCluster(probeNodesOf(loadInventory(p.inventory)), join(p.dir, 'out'));
/** The binary each node's nats-server process runs. */
const exeOf = (n: string) => readlinkSync(`/proc/${readFileSync(join(p.stateOf(n), 'nats-server.pid'), 'utf8').trim()}/exe`);

test(`play upgrade: nats-server ${FROM} to ${DEFAULT_NATS_SERVER} under signed writes; again changes nothing; a downgrade is refused`, { timeout: 900_000 }, async (t) => {
  await t.test(`bringup on ${FROM}`, async () => {
    const up = await play(['bringup', ...base], 600_000);
    assert.equal(up.code, 0, why(up));
    const r = await report();
    assert.deepEqual(r.nodes.map((n) => n.nats_version), NODES.map(() => FROM));
    for (const n of NODES) assert.equal(exeOf(n), join(p.stateOf(n), 'bin', FROM, 'nats-server'));
  });

  await t.test('the upgrade under a steady signed workload: one restart per node, the meta leader last, nothing failed or lost', async () => {
    pin(DEFAULT_NATS_SERVER);
    const pids = NODES.map((n) => pidOf(p, n));
    const check = await play(['upgrade', ...base, '--check'], 300_000);
    assert.equal(check.code, 0, why(check));
    assert.deepEqual(NODES.map((n) => pidOf(p, n)), pids, 'check mode restarted nothing');
    assert.deepEqual(NODES.map(exeOf), NODES.map((n) => join(p.stateOf(n), 'bin', FROM, 'nats-server')), 'check mode staged nothing');

    const metaBefore = (await report()).meta_leader;
    const live = probeNodesOf(loadInventory(p.inventory)).map((n) => `http://${n.ip}:${n.httpPort}`);
    const w = await startWriter(live, 'ops', seed);
    await new Promise((r) => setTimeout(r, 1500));
    const up = await play(['upgrade', ...base], 900_000);
    await new Promise((r) => setTimeout(r, 1500));
    const stats = await w.stop();
    assert.equal(up.code, 0, why(up));
    const order = restarted(up);
    assert.deepEqual([...order].sort(), NODES, 'every node restarted once');
    assert.equal(order.at(-1), metaBefore, `the meta leader (${metaBefore}) last: ${order.join(', ')}`);
    assert.equal(stats.failed, 0, `failed writes (retries ${stats.retries})`);
    assert.ok(stats.acked.length > 20, `writes made: ${stats.acked.length}`);
    const lost = await lostBlobs(new UnibusClient({ baseUrl: live[1]!, handle: 'ops', seed }), w.room, stats.acked);
    assert.deepEqual(lost, [], `lost ${lost.length} of ${stats.acked.length} acknowledged writes`);
    const r = await report();
    assert.deepEqual(r.nodes.map((n) => n.nats_version), NODES.map(() => DEFAULT_NATS_SERVER));
    for (const n of NODES) assert.equal(exeOf(n), join(p.stateOf(n), 'bin', DEFAULT_NATS_SERVER, 'nats-server'));
    process.stdout.write(`# upgrade ${FROM} -> ${DEFAULT_NATS_SERVER}: ${stats.acked.length} signed writes, ${stats.retries} retried, 0 failed, 0 lost\n`);
  });

  await t.test('a second upgrade changes nothing and restarts nothing', async () => {
    const pids = NODES.map((n) => pidOf(p, n));
    const again = await play(['upgrade', ...base], 300_000);
    assert.equal(again.code, 0, why(again));
    assert.deepEqual(restarted(again), []);
    assert.equal(Object.values(again.recap ?? {}).reduce((n, h) => n + h.changed, 0), 0);
    assert.deepEqual(NODES.map((n) => pidOf(p, n)), pids);
  });

  await t.test(`a downgrade to ${FROM} is refused before anything is staged`, async () => {
    pin(FROM);
    const pids = NODES.map((n) => pidOf(p, n));
    const env = NODES.map((n) => readFileSync(join(p.stateOf(n), 'cluster.env'), 'utf8'));
    const down = await play(['upgrade', ...base], 300_000);
    assert.equal(down.code, 2, why(down));
    const refusal = down.results.find((x) => x.task === 'no node runs a newer nats-server than the pin' && x.status === 'failed');
    assert.ok(refusal, why(down));
    assert.match(refusal.reason, new RegExp(`runs nats-server ${DEFAULT_NATS_SERVER.replace(/\./g, '\\.')}, newer than the pinned ${FROM.replace(/\./g, '\\.')}: a downgrade.*-e force=true`));
    assert.deepEqual(NODES.map((n) => pidOf(p, n)), pids, 'nothing restarted');
    assert.deepEqual(NODES.map((n) => readFileSync(join(p.stateOf(n), 'cluster.env'), 'utf8')), env, 'nothing staged');
  });
});
