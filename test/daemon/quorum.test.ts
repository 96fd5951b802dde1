// judgeQuorum: the nonce stream leader's view, as the quorum guard reads it;
// tripGuard: how many such looks in a row, over how long, it takes to refuse
// on the guard's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeQuorum, PEER_SILENCE_NS, TRIP_AFTER, TRIP_SPAN_MS, tripGuard } from '../../src/daemon/store/quorum.js';

const peer = (name: string, o: { current?: boolean; offline?: boolean; active?: number } = {}) => ({ name, current: o.current ?? true, offline: o.offline ?? false, active: o.active ?? 200_000_000, lag: 0 });
const view = (leader: string, replicas: ReturnType<typeof peer>[]) => ({ name: 'c', leader, replicas });

test('a leader and a current follower of three: quorum', () => {
  assert.deepEqual(judgeQuorum(view('n1', [peer('n2'), peer('n3', { current: false, offline: true })]), 3, 'n1'), { ok: true });
});

test('no leader, or a leader alone: no quorum, with the reason', () => {
  assert.deepEqual(judgeQuorum(view('', [peer('n2'), peer('n3')]), 3, 'n1'), { ok: false, reason: 'no stream leader' });
  assert.deepEqual(judgeQuorum(undefined, 3, undefined), { ok: false, reason: 'no stream leader' });
  assert.deepEqual(judgeQuorum(view('n1', [peer('n2', { current: false }), peer('n3', { offline: true })]), 3, 'n1'), { ok: false, reason: '1 of 3 replicas current' });
});

test('a follower silent past the bound does not count under a leader seen before (a peer just died)', () => {
  const silent = view('n1', [peer('n2', { active: PEER_SILENCE_NS + 1 }), peer('n3', { current: false })]);
  assert.deepEqual(judgeQuorum(silent, 3, 'n1'), { ok: false, reason: '1 of 3 replicas current' });
});

test('a leader elected since the last look: its followers\' silence predates it, and only `current` counts', () => {
  // The hand-off of a graceful restart: n2 now leads; it last heard from n3 long ago, as a follower.
  const handedOff = view('n2', [peer('n1', { current: false, offline: true }), peer('n3', { active: 40 * PEER_SILENCE_NS })]);
  assert.deepEqual(judgeQuorum(handedOff, 3, 'n1'), { ok: true });
  // Once seen, the same view is judged with silence: n3 silent for that long is no longer counted.
  assert.equal(judgeQuorum(handedOff, 3, 'n2').ok, false);
});

test('one replica: always quorum', () => {
  assert.deepEqual(judgeQuorum(undefined, 1, undefined), { ok: true });
});

test('the guard refuses on its own only after TRIP_AFTER looks in a row without quorum, over TRIP_SPAN_MS (a hand-off is not quorum lost)', () => {
  const ok = { ok: true } as const;
  const lost = { ok: false, reason: 'no stream leader' } as const;
  assert.equal(TRIP_AFTER, 2);
  assert.equal(TRIP_SPAN_MS, 1000);
  let g = tripGuard(ok, lost, { count: 0, since: 0 }, 10_000);
  assert.deepEqual(g, { state: ok, misses: { count: 1, since: 10_000 } }, 'one look: still serving (the nonce claim decides)');
  g = tripGuard(g.state, ok, g.misses, 10_500);
  assert.deepEqual(g, { state: ok, misses: { count: 0, since: 0 } }, 'a leader again: the count starts over');
  g = tripGuard(g.state, lost, g.misses, 11_000);
  g = tripGuard(g.state, lost, g.misses, 11_010);
  assert.deepEqual(g.state, ok, 'two looks 10 ms apart (a failed call asked for the second): still serving');
  g = tripGuard(g.state, lost, g.misses, 12_000);
  assert.deepEqual(g, { state: lost, misses: { count: 3, since: 11_000 } }, 'no quorum for 1 s: refused at once');
  g = tripGuard(g.state, { ok: false, reason: '1 of 3 replicas current' }, g.misses, 12_500);
  assert.deepEqual(g.state, { ok: false, reason: '1 of 3 replicas current' }, 'while tripped, the latest reason');
  assert.deepEqual(tripGuard(g.state, ok, g.misses, 13_000).state, ok, 'one good look serves again');
  const once = tripGuard(ok, lost, { count: 0, since: 0 }, 20_000);
  assert.deepEqual(tripGuard(once.state, lost, once.misses, 21_000).state, lost, 'two looks a span apart: refused');
});
