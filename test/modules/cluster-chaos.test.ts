// The chaos play's modules on the recording fake: the workload key, the
// workload's start and stop, the minority window's refusals. The checker
// has its own tests (test/controller/chaos-checker.test.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rawPublicKey } from '../../src/protocol/ed25519.js';
import { getModule } from '../../src/modules/index.js';
import { checkArgs } from '../../src/modules/define.js';
import { isSecret } from '../../src/secret.js';
import { FakeTransport } from '../harness/fake-transport.js';
import { fakeHost, makeCtx } from './helpers.js';

describe('cluster_chaos_key', () => {
  const key = getModule('cluster_chaos_key');
  const ctx = (t: FakeTransport) => makeCtx(t, { baseDirs: ['/proj'] });
  it('absent: a new seed uploaded 0600 as a secret; the registered pubkey is its own', async () => {
    const t = new FakeTransport('controller');
    const plan = await key.plan({}, ctx(t));
    assert.equal(plan.changed, true);
    const up = plan.commands.find((c) => c.kind === 'upload')!;
    assert.ok(up.kind === 'upload' && up.path === '/proj/secrets/chaos.key' && up.mode === 0o600 && isSecret(up.content));
    const seed = Buffer.from((up as { content: { revealString(): string } }).content.revealString().trim(), 'hex');
    assert.equal(plan.result!.pubkey, rawPublicKey(seed).toString('hex'));
    assert.ok(!JSON.stringify(plan).includes(seed.toString('hex')), 'the seed never shows in the plan');
  });
  it('present: reused (no change), its pubkey registered; a bad file is refused, not overwritten', async () => {
    const seed = 'ab'.repeat(32);
    // A host that answers the path facts (stat) from its files.
    const t = fakeHost('controller').addFile('/proj/secrets/chaos.key', seed + '\n', { mode: 0o600 });
    const plan = await key.plan({}, ctx(t));
    assert.deepEqual([plan.changed, plan.commands.length, plan.result!.pubkey], [false, 0, rawPublicKey(Buffer.from(seed, 'hex')).toString('hex')]);
    t.addFile('/proj/secrets/chaos.key', seed + '\n', { mode: 0o644 });
    const loose = await key.plan({}, ctx(t));
    assert.deepEqual([loose.changed, loose.reason, loose.commands.map((c) => c.kind === 'exec' && c.argv.join(' '))], [true, 'workload key mode 0644 -> 0600', ['chmod 0600 -- /proj/secrets/chaos.key']]);
    t.addFile('/proj/secrets/chaos.key', 'not a seed');
    const bad = await key.plan({}, ctx(t));
    assert.equal(bad.failed, true);
    assert.match(bad.reason, /chaos.key: expected a 32-byte Ed25519 seed .*not overwritten/);
  });
});

describe('cluster_chaos_workload', () => {
  const wl = getModule('cluster_chaos_workload');
  const vars = { nodes: [{ name: 'n1', route_ip: '127.0.0.11', ports: { http: 8470, nats: 4250 } }, { name: 'n2', route_ip: '127.0.0.12', ports: { http: 8470, nats: 4250 } }] };
  const ctx = (t: FakeTransport) => makeCtx(t, { baseDirs: ['/proj'], vars });
  it('stopped: only the recorded PID, and only while its command line is the workload', async () => {
    const t = new FakeTransport('controller');
    assert.equal((await wl.plan({ state: 'stopped' }, ctx(t))).changed, false);
    t.addFile('/proj/out/chaos/workload.pid', '4242\n/proj/out/chaos/r/workload.json\n');
    t.addFile('/proc/4242/cmdline', 'vim\0notes.txt\0');
    const reused = await wl.plan({ state: 'stopped' }, ctx(t));
    assert.deepEqual([reused.changed, reused.commands.length], [false, 0], 'a reused PID is never signalled');
    t.addFile('/proc/4242/cmdline', '/usr/bin/node\0/u/src/controller/steps/chaos-workload.ts\0/proj/out/chaos/r/workload.json\0');
    const stop = await wl.plan({ state: 'stopped' }, ctx(t));
    assert.equal(stop.changed, true);
    const c = stop.commands[0]!;
    assert.ok(c.kind === 'exec' && c.argv.at(-1) === 'stop' && JSON.parse(String(c.stdin)).pidFile === '/proj/out/chaos/workload.pid');
  });
  it('started: a detached start through every node, the key named by path only, the seed given or new', async () => {
    const t = new FakeTransport('controller');
    const plan = await wl.plan({ state: 'started', key: '/proj/secrets/chaos.key', seed: '42', clients: 2 }, ctx(t));
    const start = plan.commands.at(-1)!;
    assert.ok(start.kind === 'exec' && start.argv.at(-1) === 'start');
    const o = JSON.parse(String((start as { stdin: string }).stdin));
    assert.deepEqual(o.config.nodes, [
      { name: 'n1', url: 'http://127.0.0.11:8470', nats: 'nats://127.0.0.11:4250', ca: '/proj/out/n1/ca.pem', seedFile: '/proj/out/n1/internal.nk' },
      { name: 'n2', url: 'http://127.0.0.12:8470', nats: 'nats://127.0.0.12:4250', ca: '/proj/out/n2/ca.pem', seedFile: '/proj/out/n2/internal.nk' },
    ]);
    assert.equal(o.config.floorEveryMs, 50, 'the bare nats-server floor is written every 50 ms unless told');
    assert.ok(!String((start as { stdin: string }).stdin).includes('SU'), 'identity files are named, never read into the config');
    assert.deepEqual(o.config.admin, { handle: 'chaos', keyFile: '/proj/secrets/chaos.key' });
    assert.deepEqual([o.config.seed, o.config.clientsPerNode, plan.result!.seed], [42, 2, 42]);
    const fresh = await wl.plan({ state: 'started', key: '/proj/secrets/chaos.key', seed: '' }, ctx(t));
    assert.ok(Number.isInteger(fresh.result!.seed), 'an empty seed (an unset -e chaos_seed) draws a new one');
    await assert.rejects(wl.plan({ state: 'started', key: 'k', read_share: 2 }, ctx(t)), /read_share: expected a number between 0 and 1, got 2/);
    assert.equal(o.config.parentPid, process.pid);
    assert.equal(o.config.runDir, `/proj/out/chaos/${plan.result!.run}`);
    assert.match(String(plan.result!.run), /^\d{8}-\d{6}$/);
    assert.deepEqual(t.execArgvs(), [], 'planning started nothing');
  });
});

describe('cluster_chaos_schedule', () => {
  const schedule = getModule('cluster_chaos_schedule');
  const node = (name: string, ip: string) => ({ name, route_ip: ip, ports: { http: 8470, nats: 4250 } });
  const local = { nodes: [node('n1', '127.0.0.11'), node('n2', '127.0.0.12'), node('n3', '127.0.0.13')] };
  const lab = { nodes: [node('n1', '10.99.1.11'), node('n2', '10.99.1.12'), node('n3', '10.99.1.13')] };
  const ctx = (vars: object, nft = false) => {
    const t = new FakeTransport('controller');
    t.addFile('/proj/out/chaos/latest', '20261206-010203\n');
    t.on((req) => /command -v nft/.test(req.argv[2] ?? ''), () => ({ code: 0, stderr: '', stdout: nft ? 'table absent\ncgroup2 /sys/fs/cgroup\n' : 'nft none\n' }));
    return makeCtx(t, { baseDirs: ['/proj'], vars: vars as Record<string, unknown> });
  };
  it('on nodes sharing loopback without nft, all leaves partitions out (saying so) and a named partition is refused before anything runs', async () => {
    const all = await schedule.plan({ seed: 7, faults: 'all', duration: 600 }, ctx(local));
    assert.match(all.reason, /partitions left out \(nft not installed on this machine, where the nodes share loopback\)/);
    assert.ok(!(all.result!.faults as { fault: string }[]).some((f) => f.fault.startsWith('partition')));
    await assert.rejects(schedule.plan({ seed: 7, faults: 'kill-follower,partition-bridge' }, ctx(local)), /partition-bridge refused: n1, n2, n3 share this machine's loopback, where a partition needs nft/);
    const withNft = await schedule.plan({ seed: 7, faults: 'all', duration: 600 }, ctx(local, true));
    assert.ok((withNft.result!.faults as { fault: string }[]).some((f) => f.fault.startsWith('partition')), 'with nft here, local nodes are partitioned too');
    const withCuts = await schedule.plan({ seed: 7, faults: 'partition', duration: 600 }, ctx(lab));
    assert.deepEqual(new Set((withCuts.result!.faults as { fault: string }[]).map((f) => f.fault)), new Set(['partition-isolate', 'partition-majority', 'partition-bridge']));
  });
  it('the same seed plans the same faults; the schedule is stored by a step, and whether it loses quorum is said', async () => {
    const a = await schedule.plan({ seed: 11, faults: 'kill,pause-nats', duration: 120 }, ctx(lab));
    const b = await schedule.plan({ seed: '11', faults: ['kill', 'pause-nats'], duration: '120' }, ctx(lab));
    assert.deepEqual(a.result, b.result);
    assert.equal(a.result!.quorum_loss, true);
    const c = a.commands[0]!;
    assert.ok(c.kind === 'exec' && c.argv.at(-1) === 'schedule');
    assert.equal(JSON.parse(String(c.stdin)).runDir, '/proj/out/chaos/20261206-010203');
    const kills = await schedule.plan({ seed: 11, faults: 'kill-follower', duration: 60 }, ctx(lab));
    assert.equal(kills.result!.quorum_loss, false);
    await assert.rejects(schedule.plan({ seed: 11, faults: 'kill', hold_min: 9, hold_max: 3 }, ctx(lab)), /hold: expected 0 < min <= max/);
  });
});

describe('cluster_chaos_window', () => {
  const win = getModule('cluster_chaos_window');
  it('opens and closes a fault window through the chaos step, in the run named', async () => {
    const t = new FakeTransport('controller');
    t.addFile('/proj/out/chaos/latest', '20261206-010203\n');
    const ctx = makeCtx(t, { baseDirs: ['/proj'], vars: {} });
    const open = await win.plan({ state: 'open', id: 'kill-follower', family: 'kill', name: 'kill n2 (a follower)', targets: ['n2'] }, ctx);
    const c = open.commands[0]!;
    assert.ok(c.kind === 'exec' && c.argv.at(-1) === 'window');
    assert.deepEqual(JSON.parse(String(c.stdin)), { runDir: '/proj/out/chaos/20261206-010203', action: 'open', id: 'kill-follower', family: 'kill', name: 'kill n2 (a follower)', targets: ['n2'], noQuorum: [], holdS: 0, wait: false });
    assert.equal(open.changed, false, 'a record of the run, not a change to the cluster');
    const close = await win.plan({ state: 'closed', id: 'kill-follower' }, ctx);
    assert.equal(JSON.parse(String((close.commands[0] as { stdin: string }).stdin)).action, 'close');
    assert.throws(() => checkArgs(win, { state: 'open', id: 'Bad Id' }), /cluster_chaos_window: id: /);
  });
});

describe('cluster_chaos_check', () => {
  const check = getModule('cluster_chaos_check');
  const node = (name: string, ip: string) => ({ name, route_ip: ip, ports: { http: 8470, nats: 4250 } });
  it('reads the run back through the chaos step, bounded by its timeout (300 s unless given)', async () => {
    const t = new FakeTransport('controller');
    t.addFile('/proj/out/chaos/latest', '20261206-010203\n');
    const ctx = makeCtx(t, { baseDirs: ['/proj'], vars: { nodes: [node('n1', '127.0.0.11'), node('n2', '127.0.0.12'), node('n3', '127.0.0.13')] } });
    const c = (await check.plan({}, ctx)).commands[0]!;
    assert.ok(c.kind === 'exec' && c.argv.at(-1) === 'check' && c.timeoutMs === 300_000);
    assert.equal(JSON.parse(String(c.stdin)).runDir, '/proj/out/chaos/20261206-010203');
    const c9 = (await check.plan({ timeout: '900' }, ctx)).commands[0]!;
    assert.ok(c9.kind === 'exec' && c9.timeoutMs === 900_000);
    await assert.rejects(check.plan({ timeout: 'soon' }, ctx), /cluster_chaos_check: timeout: expected seconds/);
  });
});

describe('cluster_chaos_lead', () => {
  const lead = getModule('cluster_chaos_lead');
  const node = (name: string, ip: string) => ({ name, route_ip: ip, ports: { http: 8470, nats: 4250 } });
  const ctx = () => makeCtx(new FakeTransport('controller'), { baseDirs: ['/proj'], vars: { nodes: [node('n1', '127.0.0.11'), node('n2', '127.0.0.12'), node('n3', '127.0.0.13')] } });
  it("a stream's leader made, or a node stepped down from every stream it leads (a follower's kill)", async () => {
    const to = await lead.plan({ stream: 'KV_UNIBUS_rooms', node: 'n2' }, ctx());
    assert.equal(to.reason, 'make n2 the leader of KV_UNIBUS_rooms');
    const away = await lead.plan({ node: 'n2', away: true }, ctx());
    assert.equal(away.reason, 'make n2 a follower of every stream');
    const c = away.commands[0]!;
    assert.ok(c.kind === 'exec' && c.argv.at(-1) === 'lead');
    assert.deepEqual(JSON.parse(String((c as { stdin: string }).stdin)).away, true);
    await assert.rejects(lead.plan({ node: 'n2', away: true, stream: 'KV_UNIBUS_rooms' }, ctx()), /stream: is not taken with away: true/);
    await assert.rejects(lead.plan({ node: 'n2' }, ctx()), /stream: is required unless away: true/);
    await assert.rejects(lead.plan({ node: 'n9', away: true }, ctx()), /"n9" is not a node of the inventory/);
  });
  it("a stream leader's victim stepped down from every stream but the ones it keeps (a kill-stream-leader)", async () => {
    const p = await lead.plan({ node: 'n2', away: true, keep: ['KV_UNIBUS_rooms', 'UNIBUS_CHAOS_FLOOR'] }, ctx());
    assert.equal(p.reason, 'make n2 a follower of every stream but KV_UNIBUS_rooms, UNIBUS_CHAOS_FLOOR');
    assert.deepEqual(JSON.parse(String((p.commands[0] as { stdin: string }).stdin)).keep, ['KV_UNIBUS_rooms', 'UNIBUS_CHAOS_FLOOR']);
    await assert.rejects(lead.plan({ node: 'n2', stream: 'KV_UNIBUS_rooms', keep: ['KV_UNIBUS_users'] }, ctx()), /keep: is taken only with away: true/);
  });
});
