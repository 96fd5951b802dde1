// Store calls over a stream between leaders: JetStream answers "cluster not
// available" (err_code 10008), or nobody answers, until the next leader is
// elected; a call waits that out (bounded by OP_BOUND_MS) rather than
// refusing at once, and refuses past it. Writes whose answer never came are
// sent again, idempotently.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KV, KvEntry } from '@nats-io/kv';
import { JetStreamApiError } from '@nats-io/jetstream';
import { createJson, OP_BOUND_MS, putJson, readJson, updateJson } from '../../src/daemon/store/kvjson.js';
import { NoRespondersError, TimeoutError } from '@nats-io/nats-core';
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
  assert.ok(performance.now() - t0 >= OP_BOUND_MS);
});

test('any other error is refused at once', async () => {
  const k = kvFailing(1, () => new Error('timeout'));
  await assert.rejects(readJson(k.kv, 'room'), (e: unknown) => e instanceof ApiError && e.code === 'unavailable');
  assert.equal(k.calls(), 1);
});

/** A KV of one key in memory whose writes can be made to go unanswered: `landed` says whether such a write still went in. */
function memKv(o: { unanswered: number; landed: boolean }) {
  let cur: { value: string; revision: number } | null = { value: JSON.stringify({ members: ['a'] }), revision: 1 };
  const calls = { update: 0, create: 0 };
  const write = (value: string) => {
    if (o.unanswered > 0) {
      o.unanswered--;
      if (o.landed) cur = { value, revision: cur!.revision + 1 };
      throw new TimeoutError();
    }
    cur = { value, revision: (cur?.revision ?? 0) + 1 };
    return cur.revision;
  };
  const kv = {
    get: async () => (cur ? ({ operation: 'PUT', length: cur.value.length, revision: cur.revision, json: () => JSON.parse(cur!.value) } as unknown as KvEntry) : null),
    update: async (_k: string, v: string, rev: number) => {
      calls.update++;
      if (rev !== cur?.revision) throw new JetStreamApiError({ code: 400, err_code: 10071, description: 'wrong last sequence' });
      return write(v);
    },
    create: async (_k: string, v: string) => {
      calls.create++;
      if (cur) throw new JetStreamApiError({ code: 400, err_code: 10071, description: 'wrong last sequence' });
      return write(v);
    },
  } as unknown as KV;
  return { kv, calls, value: () => (cur ? JSON.parse(cur.value) : null) };
}
const addB = (c: { members: string[] } | null) => (c!.members.includes('b') ? undefined : { members: [...c!.members, 'b'] });

test('an update whose answer never came, but which went in, is found on the second look and not written again', async () => {
  const m = memKv({ unanswered: 1, landed: true });
  assert.deepEqual(await updateJson(m.kv, 'room', addB), { members: ['a', 'b'] });
  assert.equal(m.calls.update, 1, 'the change found done: no second write');
  assert.deepEqual(m.value(), { members: ['a', 'b'] });
});

test('an update whose answer never came, and which did not go in, is written on the second try', async () => {
  const m = memKv({ unanswered: 1, landed: false });
  assert.deepEqual(await updateJson(m.kv, 'room', addB), { members: ['a', 'b'] });
  assert.equal(m.calls.update, 2);
});

test('an update unanswered for the whole bound is a 503; a create unanswered then taken answers false (its caller tells its own)', async () => {
  const m = memKv({ unanswered: 1000, landed: false });
  const t0 = performance.now();
  await assert.rejects(updateJson(m.kv, 'room', addB), (e: unknown) => e instanceof ApiError && e.code === 'unavailable');
  assert.ok(performance.now() - t0 >= OP_BOUND_MS);
  assert.ok(m.calls.update >= 2 && m.calls.update < 20, `tried ${m.calls.update} times`);
  const c = memKv({ unanswered: 0, landed: false });
  let tries = 0;
  const kv = { create: async () => (++tries === 1 ? Promise.reject(new TimeoutError()) : c.kv.create('room', '{}')) } as unknown as KV;
  assert.equal(await createJson(kv, 'room', {}), false);
  assert.equal(tries, 2);
});

test('a write nobody answered (the stream between leaders) is sent again until a leader takes it', async () => {
  let tries = 0;
  const kv = { put: async () => (++tries <= 3 ? Promise.reject(new NoRespondersError('$KV.x.room')) : 42) } as unknown as KV;
  assert.equal(await putJson(kv, 'room', {}), 42);
  assert.equal(tries, 4);
});

/** The leader holds {a, b} at revision 2 (the write went in), while its reads show {a} at revision 1 for `stale` more reads. */
function staleKv(stale: number) {
  let reads = 0;
  const calls = { update: 0 };
  const at = (members: string[], revision: number) => ({ operation: 'PUT', length: 9, revision, json: () => ({ members }) }) as unknown as KvEntry;
  const kv = {
    get: async () => (++reads <= stale ? at(['a'], 1) : at(['a', 'b'], 2)),
    update: async (_k: string, _v: string, rev: number) => {
      calls.update++;
      throw new JetStreamApiError({ code: 400, err_code: 10071, description: `wrong last sequence: ${rev}` });
    },
  } as unknown as KV;
  return { kv, calls, reads: () => reads };
}

test('a conflict whose next read has not moved is a read behind the leader: waited out, not a lost try; the change is then found done', async () => {
  const s = staleKv(12);
  assert.deepEqual(await updateJson(s.kv, 'room', addB), { members: ['a', 'b'] });
  assert.equal(s.reads(), 13);
  assert.ok(s.calls.update >= 8, `every stale read tried once more: ${s.calls.update}`);
});

test('reads that never reach the leader within the bound: a 503 (the write may be in), not a 409', async () => {
  const s = staleKv(1_000_000);
  const t0 = performance.now();
  await assert.rejects(updateJson(s.kv, 'room', addB), (e: unknown) => e instanceof ApiError && e.code === 'unavailable');
  assert.ok(performance.now() - t0 >= OP_BOUND_MS);
});

test('another writer changing the key before each try: a 409 after the tries, at once', async () => {
  let rev = 1;
  const kv = {
    get: async () => ({ operation: 'PUT', length: 9, revision: rev, json: () => ({ members: ['a'] }) }) as unknown as KvEntry,
    update: async () => {
      rev++;
      throw new JetStreamApiError({ code: 400, err_code: 10071, description: 'wrong last sequence' });
    },
  } as unknown as KV;
  await assert.rejects(updateJson(kv, 'room', addB), (e: unknown) => e instanceof ApiError && e.code === 'conflict');
  assert.equal(rev, 9, '8 tries, each against a new revision');
});
