// The chaos check's replica read-back on a real 3-node loopback cluster: each
// replica of a bucket made leader in turn and read whole, message by message
// (the deleted sequences of a bucket of one value per key skipped by the
// server, not asked one by one), each copy's latest value per key kept.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal } from '../harness/control-plane.js';
import { readAllReplicas } from '../../src/controller/chaos/replicas.js';
import { sleep } from '../../src/util/time.js';

const HOSTS = ['127.0.0.81', '127.0.0.82', '127.0.0.83'];
const id = makeInternal();
let servers: TestNatsServer[] = [];
let nc: NatsConnection;

before(async () => {
  servers = await makeServers({ hosts: HOSTS, internalNkey: id.publicKey });
  await startServers(servers);
  nc = await connectInternal(servers.map((s) => s.url), id);
});

after(async () => {
  await nc?.close().catch(() => undefined);
  await stopServers(servers);
});

test('every replica of a bucket is read while it leads: equal copies, the latest value of each key, deleted keys gone', { timeout: 120_000 }, async () => {
  const kvm = new Kvm(jetstream(nc, { timeout: 5000 }));
  let kv;
  for (let t = 0; !kv; t++) {
    kv = await kvm.create('READBACK', { replicas: 3, history: 1 }).catch(async (e: Error) => {
      if (t > 60) throw e;
      await sleep(500);
      return undefined;
    });
  }
  // 300 writes to 20 keys: 280 older values deleted by the bucket, one key deleted at the end.
  for (let i = 0; i < 300; i++) await kv.put(`k${i % 20}`, `v${i}`);
  await kv.delete('k7');
  const [s] = await readAllReplicas(nc, ['KV_READBACK']);
  assert.ok(s, 'the stream was read');
  assert.deepEqual(s.unread, [], JSON.stringify(s.unread));
  assert.deepEqual(s.copies.map((c) => c.node), ['n1', 'n2', 'n3'], 'each replica read while it led');
  for (const c of s.copies) {
    assert.equal(c.messages, 20, `${c.node}: one message per key (the delete is a marker)`);
    assert.equal(c.lastSeq, 301);
    assert.equal(c.digest, s.copies[0]!.digest, `${c.node}: the same content as ${s.copies[0]!.node}`);
    assert.equal(c.kv?.size, 19, `${c.node}: k7 deleted`);
    assert.equal(c.kv?.get('k3'), 'v283', `${c.node}: the latest value of k3`);
    assert.equal(c.kv?.has('k7'), false);
  }
});

test('a bucket written to while its copies are read is read again, and its copies judged once still', { timeout: 120_000 }, async () => {
  const kv = await new Kvm(jetstream(nc, { timeout: 5000 })).open('READBACK');
  const before = (await kv.status()).streamInfo.state.last_seq;
  // Writes for the first 4 s of the read-back (a round takes a few step-downs, each an election), then none.
  let written = 0;
  const until = Date.now() + 4000;
  const writer = (async () => {
    while (Date.now() < until) {
      await kv.put(`w${written % 5}`, `x${written}`).then(() => written++, () => undefined);
      await sleep(200);
    }
  })();
  const [s] = await readAllReplicas(nc, ['KV_READBACK']);
  await writer;
  assert.ok(written > 3, `writes during the read-back: ${written}`);
  assert.ok(s, 'the stream was read');
  assert.deepEqual(s.unread, [], JSON.stringify(s.unread));
  assert.equal(s.copies.length, 3);
  for (const c of s.copies) {
    assert.equal(c.lastSeq, before + written, `${c.node}: read after the last write`);
    assert.equal(c.digest, s.copies[0]!.digest, `${c.node}: the same content as ${s.copies[0]!.node}`);
  }
});
