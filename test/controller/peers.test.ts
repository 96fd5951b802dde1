// The rules of a dead node's removal (controller/admin/peers.ts): which peer
// the meta group counts dead, when a removal is refused, and what keeps the
// streams from being settled without the removed peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeMeta, isDead, refuseRemoval, unsettledStreams, type MetaGroup } from '../../src/controller/admin/peers.js';
import type { StreamReport } from '../../src/controller/probe/probe.js';

const peer = (name: string, o: { offline?: boolean; current?: boolean; silentMs?: number; routed?: boolean } = {}) => ({ name, offline: o.offline ?? false, current: o.current ?? true, silentMs: o.silentMs ?? 200, routed: o.routed ?? true });
const meta = (...peers: ReturnType<typeof peer>[]): MetaGroup => ({ leader: peers[0]!.name, peers });
const gone = { current: false, routed: false, silentMs: 0 };

test('dead: offline, or not current with no route from a live server; a current or routed peer is not', () => {
  assert.equal(isDead(peer('n2', { offline: true })), true);
  assert.equal(isDead(peer('n2', gone)), true, 'a peer a new leader never heard from, with no route: dead');
  assert.equal(isDead(peer('n2', { current: false, routed: true })), false, 'routed to: alive, lagging or not yet heard');
  assert.equal(isDead(peer('n2', { current: true, routed: false })), false, 'current: not dead');
});

test('a live peer is refused; too few live peers left for the replicas are refused; a dead or absent peer with enough left is not', () => {
  const live = meta(peer('n1'), peer('n2'), peer('n3'));
  assert.match(refuseRemoval(live, 'n2', 3)!, /^n2 is online in the meta group \(current\)/);
  assert.match(refuseRemoval(meta(peer('n1'), peer('n2', { current: false })), 'n2', 0)!, /\(routed to\)/);
  assert.match(refuseRemoval(live, 'n1', 0)!, /its leader/);
  const n2dead = meta(peer('n1'), peer('n2', gone), peer('n3'));
  assert.match(refuseRemoval(n2dead, 'n2', 3)!, /^2 live peers \(n1, n3\) without n2, for streams of 3 replicas/);
  assert.equal(refuseRemoval(n2dead, 'n2', 2), null);
  const joined = meta(peer('n1'), peer('n2', { offline: true }), peer('n3'), peer('n4'));
  assert.equal(refuseRemoval(joined, 'n2', 3), null);
  const notYet = meta(peer('n1'), peer('n2', { offline: true }), peer('n3'), peer('n4', gone));
  assert.match(refuseRemoval(notYet, 'n2', 3)!, /2 live peers/, 'a replacement not joined yet is not live');
  assert.equal(refuseRemoval(meta(peer('n1'), peer('n3'), peer('n4')), 'n2', 3), null, 'gone already');
  assert.equal(describeMeta(notYet), 'n1 leader; n2 offline current, heard 0 s ago; n3 current, heard 0 s ago; n4 not current, no route, heard 0 s ago');
});

test('settled: every stream at its replicas, led, placed without the peer, every copy current', () => {
  const s = (o: Partial<StreamReport>): StreamReport => ({ name: 'KV_UNIBUS_users', replicas: 3, leader: 'n1', peers: [{ name: 'n3', current: true, lag: 0, offline: false }, { name: 'n4', current: true, lag: 0, offline: false }], ...o });
  assert.deepEqual(unsettledStreams([s({})], 'n2', 3), []);
  assert.deepEqual(unsettledStreams([s({ peers: [{ name: 'n2', current: false, lag: 0, offline: true }, { name: 'n3', current: true, lag: 0, offline: false }] })], 'n2', 3), ['KV_UNIBUS_users: n2 still holds a copy; not current: n2 offline']);
  assert.deepEqual(unsettledStreams([s({ peers: [{ name: 'n3', current: true, lag: 0, offline: false }, { name: 'n4', current: false, lag: 12, offline: false }] })], 'n2', 3), ['KV_UNIBUS_users: not current: n4 12 behind']);
  assert.deepEqual(unsettledStreams([s({ leader: null, peers: [{ name: 'n3', current: true, lag: 0, offline: false }] })], 'n2', 3), ['KV_UNIBUS_users: no leader; 1 copies placed']);
  assert.deepEqual(unsettledStreams([s({ replicas: 1, peers: [] })], 'n2', 3), ['KV_UNIBUS_users: R1, expected R3; 1 copies placed']);
  assert.deepEqual(unsettledStreams([s({ replicas: null, leader: null, peers: [], error: 'stream not found' })], 'n2', 3), ['KV_UNIBUS_users: stream not found']);
});
