// The checker on histories written by hand: a clean one passes every
// property, and each violation class (lost, stale, backwards, phantom,
// served without quorum, replay accepted, revoked user served, revoked NATS
// connection) is reported with its example. The end-to-end chaos tests show
// the same against a real cluster made to misbehave.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkHistory, formatCheck, quorumWindows, violationsOf } from '../../src/controller/chaos/checker.js';
import { parseOps, type FaultRecord, type Op } from '../../src/controller/chaos/history.js';
import type { StreamCopies } from '../../src/controller/chaos/replicas.js';

let nextId = 1;
function op(o: Partial<Op> & Pick<Op, 'f' | 'invoke' | 'complete'>): Op {
  return { id: nextId++, client: `${o.node ?? 'n1'}/0`, node: 'n1', wall: 0, type: 'ok', status: 200, ...o };
}
const add = (value: string, invoke: number, complete: number, o: Partial<Op> = {}) => op({ f: 'add-room', key: 'rooms:u1', user: 'u1', value, invoke, complete, status: 201, ...o });
const read = (got: string[], invoke: number, complete: number, o: Partial<Op> = {}) => op({ f: 'read-rooms', key: 'rooms:u1', user: 'u1', read: got, invoke, complete, ...o });
const final = (node: string, got: string[], t = 1000, o: Partial<Op> = {}) => op({ f: 'final-read', f_of: 'read-rooms', key: 'rooms:u1', node, read: got, invoke: t, complete: t + 5, ...o });
const finals = (got: string[]) => ['n1', 'n2', 'n3'].map((n) => final(n, got));

/** A clean history: adds, reads that see them, a minority window with refusals only, a replay refused, a revoked user refused. */
function clean(): { ops: Op[]; faults: FaultRecord[] } {
  const ops = [
    add('r1', 0, 10),
    add('r2', 5, 20, { node: 'n2' }),
    read(['r1'], 12, 15), // r2 not yet acknowledged when it began: either is fine
    read(['r1', 'r2'], 21, 25, { node: 'n3' }),
    add('r3', 30, 40, { type: 'info', status: 0 }), // unknown: may show or not
    read(['r1', 'r2', 'r3'], 41, 45),
    read(['r1', 'r2', 'r3'], 50, 55, { node: 'n2' }),
    add('r4', 60, 65, { type: 'fail', status: 409 }),
    op({ f: 'add-member', key: 'members:r1', user: 'u1', value: 'm1', invoke: 70, complete: 80 }),
    op({ f: 'read-members', key: 'members:r1', user: 'u1', read: ['m1', 'u1'], invoke: 81, complete: 85, node: 'n3' }),
    op({ f: 'add-room', key: 'rooms:u1', user: 'u1', value: 'r5', invoke: 100, complete: 110, nonce: 'N1', status: 201 }),
    op({ f: 'replay', key: 'rooms:u1', user: 'u1', invoke: 111, complete: 112, nonce: 'N1', node: 'n2', type: 'fail', status: 401 }),
    // minority window 200-300 on n3: refused there
    op({ f: 'read-rooms', key: 'rooms:u1', user: 'u1', invoke: 210, complete: 215, node: 'n3', type: 'fail', status: 503 }),
    op({ f: 'add-user', key: 'x1', user: 'admin', invoke: 400, complete: 405 }),
    op({ f: 'revoke', key: 'x1', user: 'admin', invoke: 406, complete: 410 }),
    op({ f: 'user-request', key: 'x1', user: 'x1', invoke: 411, complete: 412, node: 'n2', type: 'fail', status: 403 }),
    op({ f: 'nats-connect', key: 'x1', user: 'x1', invoke: 410 + 2500, complete: 410 + 2510, node: 'n3', type: 'fail', status: 0 }),
    ...finals(['r1', 'r2', 'r3', 'r5']),
    ...['n1', 'n2', 'n3'].map((n) => op({ f: 'final-read', f_of: 'read-members', key: 'members:r1', node: n, read: ['u1', 'm1'], invoke: 1000, complete: 1005 })),
  ];
  const faults: FaultRecord[] = [{ id: 1, family: 'partition', name: 'isolate n3', targets: ['n3'], no_quorum: ['n3'], start: 200, end: 300, wall: 0 }];
  return { ops, faults };
}

describe('chaos checker', () => {
  it('a clean history passes every property, each one exercised', () => {
    const { ops, faults } = clean();
    const r = checkHistory(ops, faults);
    assert.equal(violationsOf(r), 0, formatCheck(r));
    for (const [name, p] of Object.entries(r.properties)) {
      assert.equal(p.unexercised, undefined, `${name} exercised`);
      assert.ok(p.checked > 0, `${name} checked something`);
    }
    assert.equal(r.properties.no_quorum.refused, 1);
    assert.equal(r.ops.total, ops.length);
    assert.match(formatCheck(r), /^ops \d+ \(ok \d+, fail 5, info 1\); lost 0, stale 0, phantom 0, served-without-quorum 0 \(refused 1\), replays-accepted 0, revocation 0$/);
    assert.equal(r.visibility.n, 5, 'one per acknowledged add to a set: r1, r2, m1 (to members:r1, and r1 to rooms:m1), r5');
    assert.equal(r.visibility.max, 12 - 5, 'r2 (5-20) was missed by the read begun at 12');
    assert.equal(r.faults[0]!.ops, 1);
  });

  it('a member added to a room has it in its own list of rooms: missing there, it is lost', () => {
    const { ops, faults } = clean();
    const mine = (n: string, read: string[]) => op({ f: 'final-read', f_of: 'read-rooms', key: 'rooms:m1', user: 'm1', node: n, read, invoke: 1000, complete: 1005 });
    const good = checkHistory([...ops, ...['n1', 'n2', 'n3'].map((n) => mine(n, ['r1']))], faults);
    assert.equal(violationsOf(good), 0, formatCheck(good));
    const r = checkHistory([...ops, mine('n1', ['r1']), mine('n2', []), mine('n3', ['r1'])], faults);
    assert.equal(r.properties.lost.violations, 1, formatCheck(r));
    assert.match(r.properties.lost.examples[0]!, /^rooms:m1: r1, acknowledged by op \d+ \(add-member .*\), is missing on n2$/);
  });

  it('an acknowledged add missing from a node\'s final read is lost; an unknown one is not', () => {
    const { ops, faults } = clean();
    const without = ops.filter((o) => !(o.f === 'final-read' && o.node === 'n2' && o.key === 'rooms:u1'));
    const r = checkHistory([...without, final('n2', ['r1', 'r3', 'r5'])], faults);
    assert.equal(r.properties.lost.violations, 1, formatCheck(r));
    assert.match(r.properties.lost.examples[0]!, /^rooms:u1: r2, acknowledged by op \d+ \(add-room r2 via n2, .*\), is missing on n2$/);
    assert.equal(r.properties.stale.violations, 1, 'the final read is also a stale read');
    // r3 (info) missing from every final read is allowed: until a read has shown it.
    const unseen = ops.filter((o) => !(o.f === 'final-read' && o.key === 'rooms:u1') && !(o.f === 'read-rooms' && o.read?.includes('r3')));
    const r2 = checkHistory([...unseen, ...finals(['r1', 'r2', 'r5'])], faults);
    assert.equal(violationsOf(r2), 0, formatCheck(r2));
  });

  it('a node whose final read never answered leaves its acknowledged adds unproven', () => {
    const { ops, faults } = clean();
    const without = ops.filter((o) => !(o.f === 'final-read' && o.node === 'n3' && o.key === 'rooms:u1'));
    const r = checkHistory([...without, final('n3', [], 1000, { type: 'fail', status: 503, read: undefined })], faults);
    assert.equal(r.properties.lost.violations, 1);
    assert.match(r.properties.lost.examples[0]!, /no final read through n3 answered: 3 acknowledged adds unproven there/);
  });

  it('a read that lacks an add acknowledged before it began is stale', () => {
    const { ops, faults } = clean();
    const r = checkHistory([...ops, read(['r1'], 26, 28, { node: 'n2' })], faults);
    assert.ok(r.properties.stale.violations >= 1);
    assert.match(r.properties.stale.examples.join('\n'), /rooms:u1: op \d+ \(read-rooms via n2, 0\.026 s-0\.028 s\) lacks r2, acknowledged by op \d+ \(add-room r2 via n2, 0\.005 s-0\.020 s\) before the read began/);
  });

  it('a read that overlaps the add may miss it', () => {
    const { ops, faults } = clean();
    const r = checkHistory([...ops, read(['r1'], 19, 30)], faults);
    assert.equal(r.properties.stale.violations, 0, formatCheck(r));
    assert.equal(r.visibility.max, 19 - 5, 'r2 (5-20) was still missed by a read begun 14 ms after it');
  });

  it('a read that loses what an earlier read showed went backwards, even for an unknown add', () => {
    const { ops, faults } = clean();
    const r = checkHistory([...ops, read(['r1', 'r2'], 46, 48, { node: 'n3' })], faults);
    assert.equal(r.properties.stale.violations, 1, formatCheck(r));
    assert.match(r.properties.stale.examples[0]!, /lacks r3, which op \d+ \(read-rooms via n1, 0\.041 s-0\.045 s\) had already returned \(a read went backwards\)/);
  });

  it('an element nobody added, or whose add was refused, is a phantom', () => {
    const { ops, faults } = clean();
    const r = checkHistory([...ops, read(['r1', 'r2', 'r3', 'r4', 'zz'], 70, 72)], faults);
    assert.equal(r.properties.phantom.violations, 2, formatCheck(r));
    assert.match(r.properties.phantom.examples.join('\n'), /returned r4, whose add was refused[\s\S]*returned zz, which nothing added/);
  });

  it('a 2xx from a node inside its no-quorum window is served without quorum; one that began before the window is not', () => {
    const { ops, faults } = clean();
    const r = checkHistory(
      [...ops, read(['r1', 'r2', 'r3'], 220, 230, { node: 'n3' }), read(['r1', 'r2', 'r3'], 190, 205, { node: 'n3' }), read(['r1', 'r2', 'r3'], 220, 230, { node: 'n1' })],
      faults,
    );
    assert.equal(r.properties.no_quorum.violations, 1, formatCheck(r));
    assert.match(r.properties.no_quorum.examples[0]!, /^n3 answered 200 to op \d+ \(read-rooms via n3, 0\.220 s-0\.230 s\) inside "isolate n3" \(0\.200 s-0\.300 s\), where it had no quorum$/);
  });

  it("a pause's no-quorum window ends where a later fault starts one of its frozen nodes afresh (combined mode)", () => {
    const { ops } = clean();
    const pause: FaultRecord = { id: 1, family: 'pause', name: 'pause n1, n2', targets: ['n1', 'n2'], no_quorum: ['n3'], start: 200, end: 300, wall: 0 };
    const kill: FaultRecord = { id: 2, family: 'kill', name: 'kill n2', targets: ['n2'], no_quorum: [], start: 250, end: 260, wall: 0 };
    const other: FaultRecord = { id: 3, family: 'restart', name: 'restart n3', targets: ['n3'], no_quorum: [], start: 230, end: 240, wall: 0 };
    const reads = [read(['r1', 'r2', 'r3'], 220, 230, { node: 'n3' }), read(['r1', 'r2', 'r3'], 270, 280, { node: 'n3' })];
    assert.equal(checkHistory([...ops, ...reads], [pause]).properties.no_quorum.violations, 2, 'the pause alone: both answers');
    const r = checkHistory([...ops, ...reads], [pause, kill, other]);
    assert.equal(r.properties.no_quorum.violations, 1, formatCheck(r));
    assert.match(r.properties.no_quorum.examples[0]!, /0\.220 s-0\.230 s\) inside "pause n1, n2" \(0\.200 s-0\.250 s\)/);
    assert.deepEqual(quorumWindows([pause, other]).map((f) => f.end), [300], 'a fault on a node the pause did not freeze leaves it whole');
    // A pause begun while an earlier one still held n2 frozen: from the earlier window's end its watchdog may thaw n2.
    const earlier: FaultRecord = { id: 4, family: 'pause', name: 'pause n2', targets: ['n2'], no_quorum: ['n2'], start: 150, end: 240, wall: 0 };
    assert.deepEqual(quorumWindows([earlier, pause]).map((f) => [f.id, f.end]), [[4, 240], [1, 240]]);
    // Begun after the earlier window closed but before its watchdog's latest heal (5 s on): at once.
    const late: FaultRecord = { ...pause, id: 5, start: 242, end: 300 };
    assert.deepEqual(quorumWindows([earlier, late]).map((f) => [f.id, f.end]), [[4, 240], [5, 242]]);
    assert.deepEqual(quorumWindows([earlier, { ...late, start: 5240 + 1, end: 5300 }]).map((f) => f.end), [240, 5300], 'well after: whole');
  });

  it('a window nothing reached is reported as not exercised', () => {
    const { ops } = clean();
    const r = checkHistory(ops, [{ id: 1, family: 'pause', name: 'pause n1, n2', targets: ['n1', 'n2'], no_quorum: ['n3'], start: 5000, end: 6000, wall: 0 }]);
    assert.equal(r.properties.no_quorum.unexercised, 'no request reached a node while it had no quorum');
    assert.equal(checkHistory(ops, []).properties.no_quorum.unexercised, 'no fault left a node without quorum');
  });

  it('a nonce accepted twice is a replay accepted', () => {
    const { ops, faults } = clean();
    const r = checkHistory([...ops, op({ f: 'replay', key: 'rooms:u1', user: 'u1', invoke: 113, complete: 114, nonce: 'N1', node: 'n3', status: 201 })], faults);
    assert.equal(r.properties.replay.violations, 1);
    assert.match(r.properties.replay.examples[0]!, /^nonce N1 accepted 2 times: op \d+ \(add-room r5 via n1, .*\), op \d+ \(replay via n3, .*\)$/);
  });

  it('a revoked user served after the revoke, or let onto NATS after the bound, is a revocation violation', () => {
    const { ops, faults } = clean();
    const r = checkHistory(
      [
        ...ops,
        op({ f: 'user-request', key: 'x1', user: 'x1', invoke: 420, complete: 425, node: 'n3' }),
        op({ f: 'nats-connect', key: 'x1', user: 'x1', invoke: 1500, complete: 1510, node: 'n1' }), // within the 2 s bound: allowed
        op({ f: 'nats-connect', key: 'x1', user: 'x1', invoke: 3000, complete: 3010, node: 'n2' }),
      ],
      faults,
    );
    assert.equal(r.properties.revocation.violations, 2, formatCheck(r));
    assert.match(r.properties.revocation.examples.join('\n'), /x1, revoked at 0\.410 s, was served by n3[\s\S]*served by n2: op \d+ \(nats-connect via n2/);
  });

  it('members of a room start with its maker', () => {
    const { ops, faults } = clean();
    const r = checkHistory([...ops, op({ f: 'read-members', key: 'members:r1', user: 'u1', read: ['u1'], invoke: 90, complete: 91 })], faults);
    assert.equal(r.properties.phantom.violations, 0);
    assert.equal(r.properties.stale.violations, 1, 'm1 was acknowledged before');
  });

  it('the unavailability of a fault runs from its injection to the first acknowledged write after it', () => {
    const { ops } = clean();
    const r = checkHistory(ops, [{ id: 7, family: 'kill', name: 'kill n2', targets: ['n2'], no_quorum: [], start: 55, end: 58, wall: 0 }]);
    assert.equal(r.faults[0]!.unavailable_ms, 80 - 55, 'add-member m1 (70-80) is the first acknowledged write after 55');
    // A write sent earlier but held (a try at a dead leader) does not hide one acknowledged before it.
    const held = op({ f: 'add-member', key: 'members:r1', value: 'm9', user: 'u1', invoke: 56, complete: 95, node: 'n1' });
    const r2 = checkHistory([...ops, held], [{ id: 7, family: 'kill', name: 'kill n2', targets: ['n2'], no_quorum: [], start: 55, end: 58, wall: 0 }]);
    assert.equal(r2.faults[0]!.unavailable_ms, 80 - 55, 'the first acknowledgement, not the first-sent write');
  });

  it("the bare nats-server floor's writes give each fault its floor, and are not the system's ops", () => {
    const { ops } = clean();
    const floor = (t: number, type: 'ok' | 'info') => op({ f: 'floor-write', client: 'floor', key: String(t), invoke: t, complete: t + (type === 'ok' ? 2 : 30), type, status: 0 });
    const fault = { id: 7, family: 'kill' as const, name: 'kill n2', targets: ['n2'], no_quorum: [], start: 55, end: 58, wall: 0 };
    const r = checkHistory([...ops, floor(50, 'ok'), floor(56, 'info'), floor(61, 'ok')], [fault]);
    assert.equal(r.faults[0]!.floor_ms, 63 - 55, 'the floor write 61-63 is the first acknowledged after 55 (56 timed out)');
    assert.equal(r.faults[0]!.unavailable_ms, 80 - 55);
    assert.equal(r.ops.total, ops.length, 'floor writes are not counted as ops');
    assert.equal(r.ops.by_kind['floor-write'], undefined);
    assert.equal(checkHistory(ops, [fault]).faults[0]!.floor_ms, undefined, 'no floor written: none reported');
    assert.equal(checkHistory([...ops, floor(10, 'ok')], [fault]).faults[0]!.floor_ms, null, 'written, none acknowledged after the fault');
  });

  it('requests to the nodes a fault left serving are counted apart, by what each family takes out', () => {
    const at = (node: string, type: 'ok' | 'fail' | 'info', t: number) => op({ f: 'read-rooms', key: 'rooms:u1', user: 'u1', node, type, status: type === 'ok' ? 200 : 503, invoke: t, complete: t + 1, read: type === 'ok' ? [] : undefined });
    const refusedReplay = op({ f: 'replay', key: 'rooms:u1', user: 'u1', node: 'n2', type: 'fail', status: 401, invoke: 14, complete: 15 });
    const ops = [at('n1', 'ok', 10), at('n2', 'fail', 11), at('n3', 'info', 12), at('n3', 'ok', 13), refusedReplay, at('n1', 'ok', 50)];
    const kill: FaultRecord = { id: 1, family: 'kill', name: 'kill n1', targets: ['n1'], no_quorum: [], start: 5, end: 20, wall: 0 };
    const isolate: FaultRecord = { id: 2, family: 'partition', name: 'isolate n2', targets: ['n1', 'n2', 'n3'], no_quorum: ['n2'], start: 5, end: 20, wall: 0 };
    const r = checkHistory(ops, [kill, isolate]);
    assert.deepEqual(r.faults[0]!.elsewhere, { ops: 3, not_ok: 2 }, 'a kill takes out its target: n2 and n3 count (a replay refused on purpose does not)');
    assert.deepEqual(r.faults[1]!.elsewhere, { ops: 3, not_ok: 1 }, 'a partition takes out the node without quorum only: n1 and n3 count');
  });

  it('parses its journal strictly, skipping a torn last line', () => {
    const good = JSON.stringify(add('r1', 0, 1));
    assert.equal(parseOps('ops.ndjson', `${good}\n{"id":`).length, 1);
    assert.throws(() => parseOps('ops.ndjson', `{"id":\n${good}\n`), /ops\.ndjson:1: malformed JSON/);
    assert.throws(() => parseOps('ops.ndjson', `${JSON.stringify({ ...add('r1', 0, 1), type: 'maybe' })}\n`), /ops\.ndjson:1: type: expected ok, fail or info, got "maybe"/);
  });
});

describe('chaos checker: every replica\'s copy', () => {
  const kv = (o: Record<string, unknown>) => new Map(Object.entries(o).map(([k, v]) => [k, JSON.stringify(v)]));
  /** The three buckets as every replica should hold them after clean()'s adds (r1, r2 by u1; m1 in r1). */
  const buckets = () => ({
    rooms: kv({ r1: { name: 'r1', owner: 'u1' }, r2: { name: 'r2', owner: 'u1' }, r5: { name: 'r5', owner: 'u1' } }),
    members: kv({ r1: { members: { u1: {}, m1: {} } }, r2: { members: { u1: {} } }, r5: { members: { u1: {} } } }),
    rooms_by_member: kv({ u1: { rooms: ['r1', 'r2', 'r5'] }, m1: { rooms: ['r1'] } }),
  });
  const copiesOf = (per: Record<string, ReturnType<typeof buckets>>): StreamCopies[] =>
    (['rooms', 'members', 'rooms_by_member'] as const).map((b) => ({
      stream: `KV_UNIBUS_${b}`,
      copies: Object.entries(per).map(([node, x]) => ({ node, messages: x[b].size, lastSeq: 10, digest: JSON.stringify([...x[b]]), kv: x[b] })),
      unread: [],
    }));

  it('equal, complete and consistent copies pass', () => {
    const { ops, faults } = clean();
    const r = checkHistory(ops, faults, copiesOf({ n1: buckets(), n2: buckets(), n3: buckets() }));
    assert.equal(violationsOf(r), 0, formatCheck(r));
    assert.ok(r.properties.replica_lost!.checked > 0 && r.properties.convergence!.checked === 9 && r.properties.invariants!.checked > 0);
    assert.match(formatCheck(r), /; replicas: lost 0, diverged 0, invariants 0 \(9 copies read; 0 half-done unknown writes to repair\)$/);
  });

  it('a follower copy missing an acknowledged add is lost there, diverged, and inconsistent', () => {
    const { ops, faults } = clean();
    const damaged = buckets();
    damaged.rooms_by_member.set('u1', JSON.stringify({ rooms: ['r1', 'r5'] }));
    const r = checkHistory(ops, faults, copiesOf({ n1: buckets(), n2: damaged, n3: buckets() }));
    assert.equal(r.properties.replica_lost!.violations, 1);
    assert.match(r.properties.replica_lost!.examples[0]!, /^rooms:u1: r2, acknowledged by op \d+ .*, is missing in n2's copy of rooms_by_member$/);
    assert.equal(r.properties.convergence!.violations, 1);
    assert.match(r.properties.convergence!.examples[0]!, /^KV_UNIBUS_rooms_by_member: n2 \(2 messages, last 10, sha256 .*\) differs from n1/);
    assert.match(r.properties.invariants!.examples.join('\n'), /n2: u1 is a member of r2, but rooms_by_member\.u1 does not name it/);
  });

  it('a room an unknown create left without members is named with its repair, not a violation; an acknowledged one is a violation', () => {
    const { ops, faults } = clean();
    const half = () => {
      const b = buckets();
      b.rooms.set('r3', JSON.stringify({ name: 'r3', owner: 'u1' })); // r3's add was info (no reply)
      return b;
    };
    const r = checkHistory(ops, faults, copiesOf({ n1: half(), n2: half(), n3: half() }));
    assert.equal(r.properties.invariants!.violations, 0, formatCheck(r));
    assert.deepEqual(r.properties.invariants!.repairs, ['room r3 has no members record, left by an unknown write to r3: members record written with its owner u1']);
    const acked = () => {
      const b = buckets();
      b.members.delete('r2'); // r2's create was acknowledged
      return b;
    };
    const bad = checkHistory(ops, faults, copiesOf({ n1: acked(), n2: acked(), n3: acked() }));
    assert.match(bad.properties.invariants!.examples.join('\n'), /n1: room r2 has no members record/);
  });

  it('the nonce stream is read, not compared (its copies expire and take nonce beats, each at its own moment; an unread copy is still reported); rooms of other runs are not judged', () => {
    const { ops, faults } = clean();
    const other = () => {
      const b = buckets();
      b.rooms.set('elsewhere', JSON.stringify({ name: 'elsewhere', owner: 'zed' })); // no members record, not this run's
      return b;
    };
    const c = copiesOf({ n1: other(), n2: other(), n3: other() });
    c.push({ stream: 'KV_UNIBUS_nonces', copies: [{ node: 'n1', messages: 4962, lastSeq: 10618 }, { node: 'n2', messages: 4735, lastSeq: 10618 }], unread: [] });
    const r = checkHistory(ops, faults, c);
    assert.equal(violationsOf(r), 0, formatCheck(r));
    assert.equal(r.properties.invariants!.outside, 3, 'seen once per replica');
    c.at(-1)!.copies[1]!.lastSeq = 10_600;
    assert.equal(violationsOf(checkHistory(ops, faults, c)), 0, 'copies of the nonces read at other moments differ: not a divergence');
    c.at(-1)!.unread.push({ node: 'n3', why: 'never became leader' });
    assert.match(checkHistory(ops, faults, c).properties.convergence!.examples[0]!, /^KV_UNIBUS_nonces: n3's copy could not be read/);
  });

  it('a replica that could not be read is reported, never passed over', () => {
    const { ops, faults } = clean();
    const c = copiesOf({ n1: buckets(), n3: buckets() });
    c[0]!.unread.push({ node: 'n2', why: 'never became leader' });
    const r = checkHistory(ops, faults, c);
    assert.match(r.properties.convergence!.examples[0]!, /^KV_UNIBUS_rooms: n2's copy could not be read \(never became leader\)$/);
  });

  it('the data plane: a subscription let in to a room the user is no member of is a violation; publishing on a node in a minority is not; outages are measured', () => {
    const { ops, faults } = clean();
    const dp = [
      op({ f: 'dp-publish', key: 'unibus.room.r1.chaos', user: 'u1', node: 'n3', invoke: 220, complete: 221, status: 0 }),
      op({ f: 'dp-reconnect', user: 'u1', node: 'n1', invoke: 230, complete: 1230, status: 0 }),
      op({ f: 'dp-cross', key: 'unibus.room.r9.>', user: 'u1', invoke: 240, complete: 250, type: 'fail', status: 0 }),
    ];
    const okRun = checkHistory([...ops, ...dp], faults);
    assert.equal(violationsOf(okRun), 0, formatCheck(okRun));
    assert.deepEqual([okRun.properties.data_plane!.checked, okRun.properties.data_plane!.published], [1, 1]);
    assert.equal(okRun.properties.data_plane!.reconnects.max, 1000);
    assert.equal(okRun.faults[0]!.reconnect_ms, 1000);
    assert.match(formatCheck(okRun), /data plane: cross-room let in 0 \(1 tried\), 1 published, reconnect p50 1000 max 1000 ms$/);
    const leak = op({ f: 'dp-cross', key: 'unibus.room.r9.>', user: 'u1', invoke: 400, complete: 2400, type: 'ok', status: 0 });
    const bad = checkHistory([...ops, ...dp, leak], faults);
    assert.equal(bad.properties.data_plane!.violations, 1);
    assert.match(formatCheck(bad), /VIOLATED: data_plane: u1 was let in to unibus\.room\.r9\.>, a room it is no member of/);
    assert.equal(checkHistory(ops, faults).properties.data_plane, undefined, 'absent when the data plane did not run');
  });
});
