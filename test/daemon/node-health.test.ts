// evaluateHealth on monitor shapes as nats-server 2.10 returns them
// (/varz, /jsz?accounts=true&streams=true, /routez): fails closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateHealth, routeInMsgs, type MonitorSnapshot } from '../../src/daemon/nats/monitor.js';

const want = { clustered: true, streams: ['KV_UNIBUS_health'], kvReplicas: 3 };

function snap(o: { leader?: string; peers?: string[]; stream?: { leader?: string; current?: boolean } | null; disabled?: boolean } = {}): MonitorSnapshot {
  const peers = o.peers ?? ['n2', 'n3'];
  const stream = o.stream === null ? [] : [{
    name: 'KV_UNIBUS_health',
    cluster: { leader: o.stream?.leader ?? 'n2', replicas: [{ name: 'n1', current: o.stream?.current ?? true }, { name: 'n3', current: true }] },
  }];
  return {
    varz: { server_name: 'n1', version: '2.15.1' },
    jsz: {
      ...(o.disabled ? { disabled: true } : { config: { store_dir: '/x' } }),
      meta_cluster: { name: 'c', leader: 'leader' in o ? o.leader : 'n2', cluster_size: 3 },
      account_details: [{ name: '$G', stream_detail: stream }],
    },
    routez: { num_routes: peers.length, routes: peers.map((p) => ({ remote_name: p })) },
  };
}

test('healthy: meta leader, quorum of routes, stream led and current here', () => {
  const v = evaluateHealth(snap(), want);
  assert.equal(v.ok, true);
  assert.deepEqual(v.node, { server_name: 'n1', meta_leader: 'n2', routes: 2, jetstream: true, nats_version: '2.15.1' });
});

test('refusals name the reason', () => {
  const cases: [MonitorSnapshot, RegExp][] = [
    [snap({ disabled: true }), /jetstream is not enabled/],
    [snap({ leader: undefined }), /no JetStream meta leader/],
    [snap({ peers: [] }), /routes to 0 of 2 peers/],
    [snap({ stream: null }), /KV_UNIBUS_health is not present/],
    [snap({ stream: { leader: '' } }), /has no leader/],
    [snap({ stream: { current: false } }), /not current/],
  ];
  for (const [s, re] of cases) {
    const v = evaluateHealth(s, want);
    assert.equal(v.ok, false);
    assert.match(v.reason!, re);
  }
});

test('one route of two peers still has quorum; duplicate route entries count once', () => {
  assert.equal(evaluateHealth(snap({ peers: ['n2'] }), want).ok, true);
  const s = snap({ peers: [] });
  s.routez = { num_routes: 4, routes: [{ remote_name: 'n2' }, { remote_name: 'n2' }, { remote_name: 'n3' }, { remote_name: 'n3' }] };
  assert.equal(evaluateHealth(s, want).node.routes, 2);
});

test('R1 streams may live on another node; a standalone server leads itself', () => {
  assert.equal(evaluateHealth(snap({ stream: null }), { ...want, kvReplicas: 1 }).ok, true);
  const s = snap({ peers: [] });
  delete s.jsz.meta_cluster;
  const v = evaluateHealth(s, { clustered: false, streams: ['KV_UNIBUS_health'], kvReplicas: 1 });
  assert.equal(v.ok, true);
  assert.equal(v.node.meta_leader, 'n1');
});

test('route traffic in: the messages received on every route, pooled and $SYS, summed', () => {
  // As /routez listed them on the lab: one pooled and one $SYS route per peer.
  const r = { num_routes: 4, routes: [{ remote_name: 'n2', in_msgs: 1 }, { remote_name: 'n3', in_msgs: 1 }, { remote_name: 'n2', in_msgs: 1638 }, { remote_name: 'n3', in_msgs: 354 }] };
  assert.equal(routeInMsgs(r), 1994);
  assert.equal(routeInMsgs({ num_routes: 0 }), 0);
  assert.equal(routeInMsgs({ num_routes: 1, routes: [{ remote_name: 'n2' }] }), 0, 'a route without the counter adds nothing');
});
