// readJson over a stream between leaders: JetStream answers "cluster not
// available" (err_code 10008) until the next leader is elected; the read
// waits that out (bounded) rather than refusing at once, and refuses past it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KV, KvEntry } from '@nats-io/kv';
import { JetStreamApiError } from '@nats-io/jetstream';
import { LEADERLESS_WAIT_MS, readJson } from '../../src/daemon/store/kvjson.js';
import { ApiError } from '../../src/protocol/errors.js';

const noLeader = () => new JetStreamApiError({ code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' });
const entry = { operation: 'PUT', length: 9, revision: 7, json: () => ({ v: 'x' }) } as unknown as KvEntry;
const kvFailing = (times: number, err: () => Error = noLeader) => {
  let calls = 0;
  return {
    kv: { get: async () => (++calls <= times ? Promise.reject(err()) : entry) } as unknown as KV,
    calls: () => calls,
  };
};

test('a read between leaders is asked again until a leader answers', async () => {
  const k = kvFailing(3);
  assert.deepEqual(await readJson(k.kv, 'room'), { value: { v: 'x' }, revision: 7 });
  assert.equal(k.calls(), 4);
});

test('no leader for longer than the bound: 503', async () => {
  const k = kvFailing(1000);
  const t0 = performance.now();
  const err = await readJson(k.kv, 'room').catch((e: unknown) => e);
  assert.ok(err instanceof ApiError && err.code === 'unavailable', String(err));
  assert.ok(performance.now() - t0 >= LEADERLESS_WAIT_MS);
});

test('any other error is refused at once', async () => {
  const k = kvFailing(1, () => new Error('timeout'));
  await assert.rejects(readJson(k.kv, 'room'), (e: unknown) => e instanceof ApiError && e.code === 'unavailable');
  assert.equal(k.calls(), 1);
});
