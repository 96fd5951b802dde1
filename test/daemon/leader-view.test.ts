// The leaders' view decides whether a follower may answer /healthz 200.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeLeaderViews } from '../../src/daemon/nats/leader-view.js';

const rep = (name: string, current: boolean, lag = 0, offline = false) => ({ name, current, active: 1, lag, offline });

test('a follower the leaders count current may serve', () => {
  const views = [
    { stream: 'KV_UNIBUS_users', replicas: 3, cluster: { leader: 'n1', replicas: [rep('n2', true), rep('n3', true)] } },
    { stream: 'KV_UNIBUS_rooms', replicas: 3, cluster: { leader: 'n3', replicas: [rep('n1', true), rep('n2', true)] } },
  ];
  assert.equal(judgeLeaderViews(views, 'n2', 3), null);
});

test('the leader of a stream needs no one else to vouch for it', () => {
  assert.equal(judgeLeaderViews([{ stream: 'KV_x', replicas: 3, cluster: { leader: 'n2', replicas: [rep('n1', false, 9), rep('n3', true)] } }], 'n2', 3), null);
});

test('a follower the leader sees behind is refused, with the lag', () => {
  const r = judgeLeaderViews([{ stream: 'KV_UNIBUS_users', replicas: 3, cluster: { leader: 'n1', replicas: [rep('n2', false, 1571), rep('n3', true)] } }], 'n2', 3);
  assert.equal(r, 'stream KV_UNIBUS_users: leader n1 sees this node behind (lag 1571)');
});

test('offline, missing from an R3 stream, or leaderless is refused', () => {
  assert.match(judgeLeaderViews([{ stream: 'S', replicas: 3, cluster: { leader: 'n1', replicas: [rep('n2', true, 0, true)] } }], 'n2', 3)!, /offline/);
  assert.match(judgeLeaderViews([{ stream: 'S', replicas: 3, cluster: { leader: 'n1', replicas: [rep('n3', true)] } }], 'n2', 3)!, /does not list this node/);
  assert.match(judgeLeaderViews([{ stream: 'S', replicas: 3, cluster: { leader: '', replicas: [] } }], 'n2', 3)!, /has no leader/);
  assert.match(judgeLeaderViews([{ stream: 'S', replicas: 3 }], 'n2', 3)!, /has no leader/);
});

test('an R1 stream that lives on another node is no reason to refuse', () => {
  assert.equal(judgeLeaderViews([{ stream: 'S', replicas: 1, cluster: { leader: 'n1', replicas: [] } }], 'n2', 3), null);
});
