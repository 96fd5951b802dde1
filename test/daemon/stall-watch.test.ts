import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTalk, StallWatch } from '../../src/daemon/nats/stall-watch.js';

const behind = { ok: false, reason: 'stream KV_UNIBUS_health: leader node3 sees this node behind (lag 1)', peersRouted: true };

/** Feeds one observation every 5 s from t0 to t1 (exclusive); returns the times a restart was asked. */
function run(w: StallWatch, t0: number, t1: number, o: Parameters<StallWatch['observe']>[0]): number[] {
  const at: number[] = [];
  for (let t = t0; t < t1; t += 5000) if (w.observe(o, t)) at.push(t);
  return at;
}

test('a node seen behind with every peer routed is restarted after the wait, and each further restart waits twice as long', () => {
  const w = new StallWatch(30_000, 120_000, 600_000);
  assert.deepEqual(run(w, 0, 30_000, behind), [], 'not before 30 s');
  const why = w.observe(behind, 30_000);
  assert.match(why ?? '', /not counted current by its leaders for 30 s with every peer routed \(stream KV_UNIBUS_health: leader node3 sees this node behind/);
  assert.equal(w.waitMs, 60_000);
  // Still behind after the restart: the clock starts again at the next look (35 s), so 60 s later,
  // then 120 s (the cap) after the look that follows, and again.
  assert.deepEqual(run(w, 35_000, 35_000 + 400_000, behind), [95_000, 220_000, 345_000]);
  assert.equal(w.waitMs, 120_000);
});

test('a child restarted by another part (rearm) waits the base again, not the doubled wait', () => {
  const w = new StallWatch(30_000, 120_000, 600_000);
  assert.deepEqual(run(w, 0, 35_000, behind), [30_000]);
  assert.equal(w.waitMs, 60_000);
  // The replica audit rebuilt a copy and restarted the child at 40 s: still behind, it is restarted after 30 s, not 60 s.
  w.rearm();
  assert.deepEqual(run(w, 40_000, 100_000, behind), [70_000]);
  assert.equal(w.waitMs, 60_000);
});

test("nats-server's own 'not current with the meta leader' is a stall too (R1 streams have no leader view to ask)", () => {
  const w = new StallWatch(30_000);
  const meta = { ok: false, reason: 'nats-server: JetStream is not current with the meta leader', peersRouted: true };
  assert.deepEqual(run(w, 0, 35_000, meta), [30_000]);
});

test('no restart for trouble a restart cannot fix: a peer not routed, leaders silent, no quorum', () => {
  const w = new StallWatch(30_000);
  assert.deepEqual(run(w, 0, 600_000, { ...behind, peersRouted: false }), []);
  assert.deepEqual(run(w, 0, 600_000, { ok: false, reason: 'stream leaders not answering: TIMEOUT', peersRouted: true }), []);
  assert.deepEqual(run(w, 0, 600_000, { ok: false, reason: 'stream KV_UNIBUS_users has no leader', peersRouted: true }), []);
  assert.deepEqual(run(w, 0, 600_000, { ok: false, reason: 'no JetStream meta leader known', peersRouted: true }), []);
});

test('no meta leader known while every peer is routed and talking is a stall; with the peers silent or not routed it is not', () => {
  const leaderless = { ok: false, reason: 'no JetStream meta leader known', peersRouted: true, peersHeard: true };
  const w = new StallWatch(30_000);
  assert.deepEqual(run(w, 0, 35_000, leaderless), [30_000]);
  const w2 = new StallWatch(30_000);
  w2.observe(leaderless, 0);
  assert.equal(w2.observe(leaderless, 30_000), 'no meta leader known for 30 s while every peer is routed and talking');
  // Frozen or cut-off peers keep their routes listed but fall silent: no quorum, not a stall.
  assert.deepEqual(run(new StallWatch(30_000), 0, 600_000, { ...leaderless, peersHeard: false }), []);
  assert.deepEqual(run(new StallWatch(30_000), 0, 600_000, { ...leaderless, peersRouted: false }), []);
  // Heard is asked for the leaderless case only: a node seen behind needs routes, not more.
  assert.deepEqual(run(new StallWatch(30_000), 0, 35_000, { ...behind, peersHeard: false }), [30_000]);
  // A peer falling silent part-way restarts the clock.
  const w3 = new StallWatch(30_000);
  assert.deepEqual(run(w3, 0, 25_000, leaderless), []);
  assert.equal(w3.observe({ ...leaderless, peersHeard: false }, 25_000), null);
  assert.deepEqual(run(w3, 30_000, 60_000, leaderless), []);
  assert.ok(w3.observe(leaderless, 60_000));
});

test('before its first write a node is restarted only for knowing no meta leader while its peers are routed and talking', () => {
  // A whole cluster started together, no node ever ready: the leaderless stall still counts.
  const leaderless = { ok: false, reason: 'no JetStream meta leader known', peersRouted: true, peersHeard: true, ready: false };
  assert.deepEqual(run(new StallWatch(30_000), 0, 35_000, leaderless), [30_000]);
  assert.deepEqual(run(new StallWatch(30_000), 0, 600_000, { ...leaderless, peersHeard: false }), []);
  // Leaders that do not count it current yet are part of starting (a catch-up): no restart.
  assert.deepEqual(run(new StallWatch(30_000), 0, 600_000, { ...behind, ready: false }), []);
  assert.deepEqual(run(new StallWatch(30_000), 0, 600_000, { ok: false, reason: 'nats-server: JetStream is not current with the meta leader', peersRouted: true, ready: false }), []);
  // Once ready, the same is a stall.
  assert.deepEqual(run(new StallWatch(30_000), 0, 35_000, { ...behind, ready: true }), [30_000]);
});

test('the stall clock restarts when the node is counted current or the trouble changes kind', () => {
  const w = new StallWatch(30_000);
  assert.deepEqual(run(w, 0, 25_000, behind), []);
  assert.equal(w.observe({ ok: true, peersRouted: true }, 25_000), null);
  assert.deepEqual(run(w, 30_000, 55_000, behind), [], 'the 25 s before the healthy answer do not count');
  assert.equal(w.observe({ ...behind, peersRouted: false }, 55_000), null);
  assert.deepEqual(run(w, 60_000, 90_000, behind), []);
  assert.ok(w.observe(behind, 90_000), '30 s of stall after the last reset');
});

test('after a long healthy spell the wait is back to its base', () => {
  const w = new StallWatch(30_000, 300_000, 600_000);
  assert.ok(w.observe(behind, 0) === null && w.observe(behind, 30_000));
  assert.equal(w.waitMs, 60_000);
  run(w, 35_000, 35_000 + 300_000, { ok: true, peersRouted: true });
  assert.equal(w.waitMs, 60_000, 'not calm long enough yet');
  run(w, 335_000, 335_000 + 400_000, { ok: true, peersRouted: true });
  assert.equal(w.waitMs, 30_000);
});

test('peers are heard while the routes\' inbound count moved within the window; frozen peers fall silent', () => {
  const t = new RouteTalk(15_000);
  assert.equal(t.observe(1994, 0), false, 'one look says nothing yet');
  assert.equal(t.observe(2001, 5000), true);
  // Frozen peers: the count stands still (as on the lab with two nats-servers SIGSTOPped).
  assert.deepEqual([10_000, 15_000, 20_000, 25_000].map((at) => t.observe(2001, at)), [true, true, true, false]);
  assert.equal(t.observe(2100, 30_000), true, 'thawed: heard again');
  // A route that reconnects starts its count again: any change is a sign of life.
  assert.equal(t.observe(12, 35_000), true);
  t.reset();
  assert.equal(t.observe(12, 40_000), false, 'after a reset, one look says nothing again');
});
