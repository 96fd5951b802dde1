// `play chaos` on a copy of the default local inventory (three process-managed
// nodes, here on 127.0.0.21-23 with free ports so that it never meets
// cluster-local.test.ts): a real bringup, then a seeded schedule of chaos
// kills a follower and the meta leader and freezes a majority under the
// read-and-write workload, and passes with acknowledged writes, refusals inside the minority window,
// replays and revocations exercised, and no violation. Then the checker is
// shown to catch a lost write: one acknowledged room is taken out of its
// owner's set through a node's internal identity, and `--tags check` fails
// naming it.
import { isAlive } from '../../src/util/process.js';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openStoreVia } from '../../src/controller/admin/admin.js';
import { readHistory } from '../../src/controller/chaos/history.js';
import type { CheckResult } from '../../src/controller/chaos/checker.js';
import { probeNodesOf } from '../../src/controller/probe/nodes.js';
import { loadInventory } from '../../src/inventory/load.js';
import { makeProject, type Project } from '../harness/project.js';
import { ROOT } from '../harness/root.js';
import { play, type PlayRun } from '../harness/play.js';
import { keepChaosRuns } from '../harness/keep-chaos.js';
import { sharedNames } from '../../src/modules/cluster/partition.js';

const IPS = ['127.0.0.21', '127.0.0.22', '127.0.0.23'];
let p: Project;
let base: string[];


/** A process state letter (T: stopped) of each node's nats-server. */
function natsStates(): string[] {
  return ['n1', 'n2', 'n3'].map((n) => {
    const f = join(p.stateOf(n), 'nats-server.pid');
    if (!existsSync(f)) return '-';
    const stat = readFileSync(`/proc/${Number(readFileSync(f, 'utf8'))}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  });
}

before(async () => {
  const inv = readFileSync(join(ROOT, 'inventory.yaml'), 'utf8').replace(/127\.0\.0\.1([123])\b/g, '127.0.0.2$1');
  p = await makeProject(inv, IPS);
  base = ['-i', p.inventory, '--json'];
});

/**
 * A short schedule of five faults, each at least once (the partition between nodes on loopback by cgroup)
 * (holds up to 5 s, gaps up to 2 s), and a follower's copy of a stream cut short on disk, then made its leader.
 */
const FAULTS = ['kill-meta-leader', 'pause-majority', 'partition-isolate', 'skew-node', 'corrupt-truncate'];
const SCHEDULE = ['-e', `chaos_faults=${FAULTS.join(',')}`, '-e', 'chaos_duration=40', '-e', 'chaos_hold_min=3', '-e', 'chaos_hold_max=5', '-e', 'chaos_gap_max=2'];
after(async () => {
  // The workload stops with the run that started it; a test cut short still kills it by its recorded PID.
  const pidFile = join(p?.dir ?? '/nonexistent', 'out', 'chaos', 'workload.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (pid && isAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('steps/chaos-workload')) process.kill(pid, 'SIGKILL');
  }
  for (const n of ['n1', 'n2', 'n3']) {
    const f = join(p?.stateOf(n) ?? '/nonexistent', 'nats-server.pid');
    if (existsSync(f)) {
      const pid = Number(readFileSync(f, 'utf8'));
      if (pid && isAlive(pid)) process.kill(pid, 'SIGCONT');
    }
  }
  await p?.cleanup();
});

const why = (r: PlayRun) => `${r.stderr}\n${r.results.filter((x) => x.status === 'failed').map((x) => `${x.task} @ ${x.host}: ${x.reason}`).join('\n')}${r.code !== 0 ? `\n${keepChaosRuns(p.dir)}` : ''}`;
const resultOf = (r: PlayRun, task: string) => r.results.find((x) => x.task === task);
const CHECK_TASK = 'no acknowledged write lost, nothing served without quorum';
const count = (reason: string, what: string) => Number(new RegExp(`${what} (\\d+)`).exec(reason)?.[1] ?? NaN);

test('chaos under a read-and-write workload: every promise checked', { timeout: 600_000 }, async (t) => {
  const up = await play(['bringup', ...base]);
  assert.equal(up.code, 0, why(up));

  await t.test('--check kills, freezes and starts nothing', async () => {
    const pidsBefore = ['n1', 'n2', 'n3'].map((n) => readFileSync(join(p.stateOf(n), 'membershipd.pid'), 'utf8'));
    const check = await play(['chaos', ...base, ...SCHEDULE, '--check']);
    assert.equal(check.code, 0, why(check));
    assert.ok(!existsSync(join(p.dir, 'out', 'chaos', 'workload.pid')), 'no workload started');
    assert.ok(!existsSync(join(p.dir, 'secrets', 'chaos.key')), 'no key written');
    assert.deepEqual(['n1', 'n2', 'n3'].map((n) => readFileSync(join(p.stateOf(n), 'membershipd.pid'), 'utf8')), pidsBefore);
    assert.deepEqual(natsStates().filter((s) => s === 'T'), []);
    const sched = resultOf(check, 'the schedule')!.reason;
    const n = (f: string) => Number(new RegExp(`\\b${f} (\\d+)`).exec(sched)?.[1] ?? 0);
    for (const f of FAULTS) assert.ok(n(f) >= 1, `${f} scheduled: ${sched}`);
    assert.equal(check.results.filter((x) => x.task === 'kill (SIGKILL)' && x.status === 'changed').length, n('kill-meta-leader'), 'each kill is planned, on one node');
    assert.equal(check.results.filter((x) => x.task.startsWith('pause (SIGSTOP') && x.status === 'changed').length, 2 * n('pause-majority'), 'each freeze is planned, on two nodes');
  });

  let chaos: PlayRun;
  await t.test('play chaos passes with acked writes, refusals in the minority window and no violation', async (st) => {
    chaos = await play(['chaos', ...base, ...SCHEDULE], 300_000);
    assert.equal(chaos.code, 0, why(chaos));
    const sched = resultOf(chaos, 'the schedule')!.reason;
    const n = (f: string) => Number(new RegExp(`\\b${f} (\\d+)`).exec(sched)?.[1] ?? 0);
    const kills = chaos.results.filter((x) => x.task === 'kill (SIGKILL)' && x.status === 'changed').map((x) => x.host);
    assert.equal(kills.length, n('kill-meta-leader'), `each kill on one node: ${kills}`);
    assert.equal(chaos.results.filter((x) => x.task.startsWith('pause (SIGSTOP') && x.status === 'changed').length, 2 * n('pause-majority'));
    assert.equal(chaos.results.filter((x) => x.task.startsWith('partition (nftables') && x.status === 'changed').length, 3 * n('partition-isolate'), 'each node of each cut');
    const shifted = chaos.results.filter((x) => x.task.startsWith("shift its membershipd's clock") && x.status === 'changed').map((x) => x.host);
    assert.equal(shifted.length, n('skew-node'), `each clock shift on one node: ${shifted}`);
    for (const h of new Set(shifted)) assert.match(readFileSync(join(p.stateOf(h), 'membershipd.log'), 'utf8'), /TEST ONLY: this node's clock is shifted by -?\d+ ms until/, `${h} took its shift`);
    assert.deepEqual(['n1', 'n2', 'n3'].filter((h) => existsSync(join(p.stateOf(h), 'test-clock.json'))), [], 'no clock left shifted');
    const damaged = chaos.results.filter((x) => x.task.startsWith('damage its copy of the stream on disk') && x.status === 'changed').map((x) => x.host);
    assert.equal(damaged.length, n('corrupt-truncate'), `each corruption on one node: ${damaged}`);
    for (const h of new Set(damaged)) st.diagnostic(`${h}'s replica audit: ${readFileSync(join(p.stateOf(h), 'membershipd.log'), 'utf8').split('\n').filter((l) => /replica audit: /.test(l) && !/round failed/.test(l)).map((l) => l.slice(0, 240)).join(' | ') || 'no finding'}`);
    const reason = resultOf(chaos, CHECK_TASK)!.reason;
    st.diagnostic(`${sched} | ${reason}`);
    assert.ok(count(reason, 'ok') > 0, reason);
    assert.ok(count(reason, 'refused') > 0, reason);
    assert.doesNotMatch(reason, /VIOLATED|NOT PROVEN/);
    const run = readFileSync(join(p.dir, 'out', 'chaos', 'latest'), 'utf8').trim();
    const report = JSON.parse(readFileSync(join(p.dir, 'out', 'chaos', run, 'check.json'), 'utf8')) as CheckResult;
    for (const [name, prop] of Object.entries(report.properties)) {
      assert.equal(prop.violations, 0, `${name}: ${prop.examples.join('; ')}`);
      assert.equal(prop.unexercised, undefined, `${name} exercised`);
    }
    // The bare nats-server floor was written beside the workload: each fault has its figure (null only when no floor write came back after it).
    assert.ok(report.faults.every((f) => f.floor_ms !== undefined), 'every fault has its bare nats-server figure');
    assert.ok(report.faults.some((f) => typeof f.floor_ms === 'number'), JSON.stringify(report.faults.map((f) => f.floor_ms)));
    assert.equal(report.ops.by_kind['floor-write'], undefined, "the floor's writes are not the workload's ops");
    const copies = JSON.parse(readFileSync(join(p.dir, 'out', 'chaos', run, 'replicas.json'), 'utf8')) as { stream: string; copies: { node: string; kv?: Record<string, string> }[] }[];
    const index = copies.find((c) => c.stream === 'KV_UNIBUS_rooms_by_member');
    assert.deepEqual(index?.copies.map((c) => c.node), ['n1', 'n2', 'n3'], 'every copy of the index kept for looking into');
    assert.ok(Object.keys(index!.copies[0]!.kv ?? {}).length > 0, 'with its values');
    const { ops } = readHistory(join(p.dir, 'out', 'chaos', run));
    const reads = ops.filter((o) => o.f === 'read-rooms' || o.f === 'read-members');
    const clientOps = ops.filter((o) => ['read-rooms', 'read-members', 'add-room', 'add-member'].includes(o.f));
    assert.ok(reads.length > clientOps.length * 0.35, `about half the clients' ops read: ${reads.length} of ${clientOps.length}`);
    assert.ok(ops.some((o) => o.f === 'dp-publish' && o.type === 'ok') && ops.some((o) => o.f === 'dp-cross' && o.type === 'fail'), 'the data plane published, and was refused another room');
    assert.deepEqual(new Set(ops.filter((o) => o.f === 'add-room').map((o) => o.client.split('/')[0])), new Set(['n1', 'n2', 'n3']), 'clients on every node');
    assert.deepEqual(natsStates().filter((s) => s === 'T'), [], 'nothing left stopped');
    // Each partition's cgroup goes at heal, its processes put back where they were.
    const cg2 = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
    if (cg2) assert.deepEqual(['n1', 'n2', 'n3'].filter((h) => existsSync(join(cg2, sharedNames(p.stateOf(h)).cgroup))), [], 'no partition cgroup left');
    const pidFile = join(p.dir, 'out', 'chaos', 'workload.pid');
    assert.ok(!existsSync(pidFile), 'the workload was stopped');
    assert.equal(statSync(join(p.dir, 'secrets', 'chaos.key')).mode & 0o777, 0o600);
    assert.ok(!chaos.stdout.includes(readFileSync(join(p.dir, 'secrets', 'chaos.key'), 'utf8').trim()), 'the seed is never printed');
  });

  await t.test('the checker catches an acknowledged write deleted behind its back', async () => {
    const run = readFileSync(join(p.dir, 'out', 'chaos', 'latest'), 'utf8').trim();
    const { ops } = readHistory(join(p.dir, 'out', 'chaos', run));
    const acked = ops.find((o) => o.f === 'add-room' && o.type === 'ok')!;
    assert.ok(acked, 'an acknowledged room');
    const { nc, store } = await openStoreVia(probeNodesOf(loadInventory(p.inventory)), join(p.dir, 'out'));
    try {
      const e = await store.kv.roomsByMember.get(acked.user!);
      const cur = e!.json<{ handle: string; rooms: string[] }>();
      await store.kv.roomsByMember.put(acked.user!, JSON.stringify({ ...cur, rooms: cur.rooms.filter((r) => r !== acked.value) }));
    } finally {
      await nc.close();
    }
    const caught = await play(['chaos', ...base, '--tags', 'check']);
    assert.equal(caught.code, 2, 'a lost write fails the run');
    const reason = resultOf(caught, CHECK_TASK)!.reason;
    assert.match(reason, new RegExp(`lost: rooms:${acked.user}: ${acked.value}, acknowledged by op ${acked.id} .*, is missing on n[123]`));
    assert.match(reason, /lost 3, stale [1-9]/);
  });

  await t.test('a second chaos run, play restart\'s rolling restart under the workload, reuses the key and user and passes again', async (st) => {
    const key = readFileSync(join(p.dir, 'secrets', 'chaos.key'), 'utf8');
    const r = await play(['chaos', ...base, '-e', 'chaos_faults=restart-all', '-e', 'chaos_duration=3', '-e', 'chaos_gap_max=1'], 300_000);
    assert.equal(r.code, 0, why(r));
    assert.equal(readFileSync(join(p.dir, 'secrets', 'chaos.key'), 'utf8'), key);
    assert.equal(resultOf(r, 'workload admin (adds the run\'s users, revokes the probe\'s)')?.status, 'ok');
    const restarted = r.results.filter((x) => x.task === 'restart (process manager)' && x.status === 'changed').map((x) => x.host);
    assert.equal(restarted.length, 3, 'every node restarted');
    assert.deepEqual(r.results.filter((x) => x.task === 'every replica current again' && x.status === 'ok').map((x) => x.host), restarted, 'each waited for (its run_once verify ran for it) before the next');
    const run = readFileSync(join(p.dir, 'out', 'chaos', 'latest'), 'utf8').trim();
    const report = JSON.parse(readFileSync(join(p.dir, 'out', 'chaos', run, 'check.json'), 'utf8')) as CheckResult;
    const [all, ...each] = [...report.faults].sort((a, b) => a.start - b.start);
    const order = /^restart-all (n[123]), (n[123]), then (n[123]) \(the meta leader last\)$/.exec(all!.name);
    assert.ok(order, all!.name);
    assert.deepEqual(restarted, order.slice(1), 'in the order the fault named');
    assert.deepEqual(each.map((f) => f.name), order.slice(1).map((n) => `restart ${n} (one of 3, rolling)`), 'each restart in its own window');
    st.diagnostic(`rolling restart: ${each.map((f) => `${f.name.split(' ')[1]} ${((f.end - f.start) / 1000).toFixed(1)} s, not ok elsewhere ${f.elsewhere!.not_ok} of ${f.elsewhere!.ops}`).join('; ')}`);
  });
});
