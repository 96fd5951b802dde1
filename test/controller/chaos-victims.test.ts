import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findVictims, HEAL_SLACK_S, NoVictimError, skippedResult, victimsResult } from '../../src/controller/chaos/victims.js';
import { NEMESIS_FAULT_NAMES, type NemesisFault } from '../../src/controller/chaos/schedule.js';
import type { ClusterReport } from '../../src/controller/probe/probe.js';

const NODES = ['n1', 'n2', 'n3'];
function report(meta: string | null, leaders: Record<string, string | null>, messages: Record<string, number> = {}): ClusterReport {
  return {
    nodes: NODES.map((name) => ({ name, http: 200, status: 'ok', meta_leader: meta })),
    meta_leader: meta,
    streams: Object.entries(leaders).map(([name, leader]) => ({ name, replicas: 3, leader, peers: [], messages: messages[name] ?? 10 })),
    certs: [],
    nats: { via: 'n1', failed: [] },
  };
}
const R = report('n2', { KV_UNIBUS_users: 'n1', KV_UNIBUS_rooms: 'n3' });
const v = (fault: NemesisFault, pick = 0, r = R, nodes = NODES) => findVictims({ fault, pick }, nodes, r);

test('kills: a follower is never the meta leader; the meta leader is; a stream leader is the one the probe names', () => {
  for (let pick = 0; pick < 6; pick++) assert.notEqual(v('kill-follower', pick).targets[0], 'n2');
  assert.deepEqual(v('kill-meta-leader').targets, ['n2']);
  assert.deepEqual(v('kill-stream-leader', 0), { name: 'kill-stream-leader n1 (leader of KV_UNIBUS_users)', targets: ['n1'], no_quorum: [], processes: ['membershipd', 'nats'], stream: 'KV_UNIBUS_users' });
  assert.deepEqual(v('kill-stream-leader', 1).targets, ['n3']);
  assert.deepEqual(v('kill-all').targets, NODES);
  assert.throws(() => v('kill-meta-leader', 0, report(null, {})), NoVictimError);
  assert.throws(() => v('kill-stream-leader', 0, report('n1', { KV_UNIBUS_users: null })), /no stream has a leader/);
});

test('corruption stays on a minority for the whole run: once it has damaged copies on one node of three, later corrupt faults damage that node only, on the next stream it follows, or find no victim', () => {
  const r = report('n2', { KV_UNIBUS_users: 'n1', KV_UNIBUS_rooms: 'n3', KV_UNIBUS_members: 'n2' });
  const seen = new Set<string>();
  for (let pick = 0; pick < 64; pick++) {
    // Nothing damaged yet: any follower of the seed's stream.
    seen.add(v('corrupt-minority', pick, r).targets[0]!);
    const c = findVictims({ fault: 'corrupt-minority', pick }, NODES, r, { corruptible: ['n3'] });
    assert.deepEqual(c.targets, ['n3'], `pick ${pick}`);
    assert.notEqual(c.stream, 'KV_UNIBUS_rooms', 'n3 leads rooms: another stream it follows');
  }
  assert.deepEqual([...seen].sort(), NODES, 'every node can be the first');
  // n3 leads every stream with messages: no victim, said so.
  assert.throws(() => findVictims({ fault: 'corrupt-bitflip', pick: 0 }, NODES, report('n2', { KV_UNIBUS_users: 'n3', KV_UNIBUS_rooms: 'n3' }), { corruptible: ['n3'] }), /this run damages copies on n3 only \(a minority of the nodes\), and no control-plane stream with messages has a follower among them/);
  // Five nodes: two may be damaged; the first two chosen are then the only ones.
  const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const r5 = report('n1', { KV_UNIBUS_rooms: 'n1' });
  for (let pick = 0; pick < 16; pick++) {
    assert.ok(['n2', 'n4'].includes(findVictims({ fault: 'corrupt-truncate', pick }, five, r5, { corruptible: ['n2', 'n4'] }).targets[0]!));
    // One of two so far: any follower still.
    seen.add(findVictims({ fault: 'corrupt-truncate', pick }, five, r5, { corruptible: ['n2'] }).targets[0]!);
  }
  assert.ok(seen.has('n5'), 'with one node of two damaged, another may be');
});

test('pauses: who must refuse — the node whose nats-server is frozen, every node when a majority is', () => {
  const nats = v('pause-nats', 1);
  assert.deepEqual([nats.targets, nats.no_quorum, nats.processes], [['n2'], ['n2'], ['nats']]);
  const md = v('pause-membershipd', 1);
  assert.deepEqual([md.no_quorum, md.processes], [[], ['membershipd']]);
  const maj = v('pause-majority', 2);
  assert.equal(maj.targets.length, 2);
  assert.ok(!maj.targets.includes('n3'), 'n3 left as the minority');
  assert.deepEqual(maj.no_quorum, NODES);
});

test('partitions: cuts are symmetric; the cut-off minority must refuse; a bridge leaves everyone a majority', () => {
  for (const f of ['partition-isolate', 'partition-majority', 'partition-bridge'] as const) {
    for (let pick = 0; pick < 5; pick++) {
      const { cut } = v(f, pick, R, ['a', 'b', 'c', 'd', 'e']);
      for (const [x, ys] of Object.entries(cut!)) for (const y of ys) assert.ok(cut![y]!.includes(x), `${f}: ${x}-${y} cut both ways`);
    }
  }
  const iso = v('partition-isolate', 0);
  assert.deepEqual(iso.cut, { n1: ['n2', 'n3'], n2: ['n1'], n3: ['n1'] });
  assert.deepEqual(iso.no_quorum, ['n1']);
  const five = v('partition-majority', 3, R, ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(five.no_quorum, ['d', 'e']);
  assert.deepEqual(five.cut!.d, ['a', 'b', 'c']);
  const bridge = v('partition-bridge', 0);
  assert.deepEqual(bridge.cut, { n1: ['n2'], n2: ['n1'] });
  assert.deepEqual(bridge.no_quorum, []);
});

test('restarts: one node, or every node one at a time with the meta leader last, as play restart orders them', () => {
  assert.deepEqual(v('restart', 1).targets, ['n2']);
  assert.deepEqual(v('restart-all'), { name: 'restart-all n1, n3, then n2 (the meta leader last)', targets: ['n1', 'n3', 'n2'], no_quorum: [] });
  assert.deepEqual(v('restart-all', 0, report(null, {})).targets, NODES, 'no meta leader agreed: inventory order');
});

test('every fault the schedule knows has victims on a healthy 3-node cluster; fewer than 3 nodes is refused', () => {
  for (const f of NEMESIS_FAULT_NAMES) assert.ok(v(f).targets.length > 0, f);
  assert.throws(() => v('kill-follower', 0, R, ['n1', 'n2']), /needs at least 3 nodes/);
});

test("the result a fault's tasks read: each cut node's peers by address, the watchdog's bound past the hold, and when it heals at the earliest", () => {
  const r = victimsResult({ hold: 3 }, v('partition-isolate', 0), (n) => `10.0.0.${n.slice(1)}`, 1000);
  assert.deepEqual(r.peers, { n1: ['10.0.0.2', '10.0.0.3'], n2: ['10.0.0.1'], n3: ['10.0.0.1'] });
  assert.equal(r.hold_max, 3 + HEAL_SLACK_S);
  assert.equal(r.heals_ms, 1000 + (3 + HEAL_SLACK_S) * 1000);
  assert.deepEqual(victimsResult({ hold: 3 }, v('kill-follower', 0), String, 0).processes, ['membershipd', 'nats']);
  assert.deepEqual(skippedResult('f1-x', 5).targets, []);
});

test("corruption: a follower of a control-plane stream's leader (never the health bucket); cut short or bytes inverted by the seed, or as the fault names it", () => {
  const r = report('n2', { KV_UNIBUS_health: 'n1', KV_UNIBUS_rooms: 'n3' });
  const hows = new Set<string>();
  for (let pick = 0; pick < 64; pick++) {
    const c = v('corrupt-minority', pick, r);
    assert.equal(c.stream, 'KV_UNIBUS_rooms');
    assert.notEqual(c.targets[0], 'n3', 'never the leader');
    hows.add(c.how!);
    assert.equal(v('corrupt-truncate', pick, r).how, 'truncate');
    assert.equal(v('corrupt-bitflip', pick, r).how, 'bitflip');
  }
  assert.deepEqual([...hows].sort(), ['bitflip', 'truncate']);
  assert.match(v('corrupt-truncate', 0, r).name, /^corrupt-truncate n[12] \(truncate its copy of KV_UNIBUS_rooms, then lead it\)$/);
  // An empty stream has no block on disk to damage (a run once stopped a node for one, and failed there).
  const empty = report('n2', { KV_UNIBUS_room_keys: 'n1', KV_UNIBUS_rooms: 'n3' }, { KV_UNIBUS_room_keys: 0 });
  for (let pick = 0; pick < 8; pick++) assert.equal(v('corrupt-minority', pick, empty).stream, 'KV_UNIBUS_rooms');
  assert.throws(() => v('corrupt-minority', 0, report('n2', { KV_UNIBUS_room_keys: 'n1' }, { KV_UNIBUS_room_keys: 0 })), /no control-plane stream with messages has a leader/);
});
