// The corruption fault's last step moves a stream's lead to its victim
// (moveLeader) while that node may be restarting its nats-server to rebuild
// the damaged copy: an unanswered STREAM.INFO is one bounded try, never the
// end of the step (a local chaos run's lead step died on "timeout").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { moveLeader, moveLeaderAway } from '../../src/controller/chaos/replicas.js';

/** STREAM.INFO answers from a script: an Error is thrown (a timeout), a name is the leader with both others current. */
function fakeCluster(script: (string | Error)[]) {
  const asked: string[] = [];
  const stepDowns: string[] = [];
  let i = 0;
  let last: string | Error = script[0]!;
  const jsm = {
    streams: {
      info: async (stream: string) => {
        asked.push(stream);
        last = i < script.length ? script[i++]! : last;
        if (last instanceof Error) throw last;
        const others = ['n1', 'n2', 'n3'].filter((n) => n !== last);
        return { cluster: { leader: last, replicas: others.map((name) => ({ name, current: true })) } };
      },
    },
  } as unknown as JetStreamManager;
  const nc = {
    request: async (subject: string) => {
      stepDowns.push(subject);
      return { json: () => ({ success: true }) };
    },
  } as unknown as NatsConnection;
  return { jsm, nc, asked, stepDowns };
}

test('moveLeader: an unanswered STREAM.INFO is a try, and the move goes on; a leader reached is null', async () => {
  const f = fakeCluster([new Error('timeout'), new Error('timeout'), 'n3']);
  assert.equal(await moveLeader(f.nc, f.jsm, 'KV_UNIBUS_members', 'n3', 5), null);
  assert.equal(f.asked.length, 3);
  assert.deepEqual(f.stepDowns, []);
});

test('moveLeader: every ask unanswered ends the move with why, within its tries', async () => {
  const f = fakeCluster([new Error('timeout')]);
  assert.equal(await moveLeader(f.nc, f.jsm, 'KV_UNIBUS_members', 'n3', 3), 'never became leader in 3 tries (stream info: timeout)');
  assert.equal(f.asked.length, 4, 'tries, then one last look');
});

test('moveLeaderAway: an unanswered STREAM.INFO is a try; another leader is null', async () => {
  const f = fakeCluster([new Error('timeout'), 'n1']);
  assert.equal(await moveLeaderAway(f.nc, f.jsm, 'KV_UNIBUS_members', 'n3', 3), null);
  const g = fakeCluster([new Error('timeout')]);
  assert.equal(await moveLeaderAway(g.nc, g.jsm, 'KV_UNIBUS_members', 'n3', 2), 'n3 still leads KV_UNIBUS_members after 2 tries (stream info: timeout)');
});
