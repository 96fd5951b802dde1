// The chaos check's replica read-back on a real 3-node loopback cluster: each
// replica of a bucket read whole through a reader placed on it (the deleted
// sequences of a bucket of one value per key skipped), each copy's latest
// value per key kept, a copy's reader answering from that server's own store
// with both other servers down; and
// play repair's judgement of the copies and its rebuild of a follower's.
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm } from '@nats-io/kv';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { makeServers, startServers, stopServers, waitClusterFormed, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal } from '../harness/control-plane.js';
import { placeReader, readAllReplicas, readThrough } from '../../src/controller/chaos/replicas.js';
import { diverged } from '../../src/controller/chaos/copies.js';
import { judgeCopies, rebuildCopies } from '../../src/controller/admin/repair.js';
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

test('every replica of a bucket is read from its own store: equal copies, the latest value of each key, deleted keys gone', { timeout: 120_000 }, async () => {
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

test("an emptied stream's copies say where it stands, as STREAM.INFO does: first = last + 1", { timeout: 60_000 }, async () => {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  for (let t = 0; ; t++) {
    const made = await jsm.streams.add({ name: 'EMPTIED', subjects: ['emptied.>'], num_replicas: 3 }).catch((e: Error) => (t > 60 ? Promise.reject(e) : undefined));
    if (made) break;
    await sleep(500);
  }
  for (let i = 0; i < 5; i++) await nc.request('emptied.x', String(i), { timeout: 5000 });
  await jsm.streams.purge('EMPTIED');
  const [s] = await readAllReplicas(nc, ['EMPTIED']);
  assert.deepEqual(s!.copies.map((c) => [c.node, c.messages, c.firstSeq, c.lastSeq]), ['n1', 'n2', 'n3'].map((n) => [n, 0, 6, 5]));
  assert.deepEqual(diverged(s!), []);
  await jsm.streams.delete('EMPTIED');
});

test('a bucket written to while its copies are read is read again, and its copies judged once still', { timeout: 120_000 }, async () => {
  const kv = await new Kvm(jetstream(nc, { timeout: 5000 })).open('READBACK');
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const before = (await kv.status()).streamInfo.state.last_seq;
  // 300 writes back to back while the copies are read (a round takes several
  // round trips, a consumer made by the meta leader among them, so each
  // round meets a write until the last): only a round after the last counts.
  const W = 300;
  const writer = (async () => {
    for (let i = 0; i < W; i++) await kv.put(`w${i % 5}`, `x${i}`);
  })();
  const [s] = await readAllReplicas(nc, ['KV_READBACK'], { rounds: 100 });
  await writer;
  assert.ok(s, 'the stream was read');
  assert.deepEqual(s.unread, [], JSON.stringify(s.unread));
  assert.equal(s.copies.length, 3);
  for (const c of s.copies) {
    assert.equal(c.lastSeq, before + W, `${c.node}: read after the last write`);
    assert.equal(c.digest, s.copies[0]!.digest, `${c.node}: the same content as ${s.copies[0]!.node}`);
  }
  assert.deepEqual((await jsm.consumers.list('KV_READBACK').next()).map((c) => c.name), [], 'every reader deleted');
});

test('a bucket written to during every round (for the quiet wait) is named as not compared, not as diverged', { timeout: 120_000 }, async () => {
  const kv = await new Kvm(jetstream(nc, { timeout: 5000 })).open('READBACK');
  let stop = false;
  let written = 0;
  const writer = (async () => {
    while (!stop) await kv.put(`w${written % 5}`, `y${written}`).then(() => written++, () => undefined);
  })();
  const [s] = await readAllReplicas(nc, ['KV_READBACK'], { quietMs: 2000 }).finally(() => (stop = true));
  await writer;
  assert.ok(s, 'the stream was read');
  assert.deepEqual(s.copies, []);
  assert.equal(s.unread.length, 1, JSON.stringify(s.unread));
  // Read again for the quiet wait's 2 s, then named.
  const m = /written to during each of (\d+) rounds of reading its copies, over (\d+\.\d) s/.exec(s.unread[0]!.why);
  assert.ok(m && Number(m[1]) >= 3 && Number(m[2]) >= 2, s.unread[0]!.why);
  assert.deepEqual(diverged(s), [`KV_READBACK: *'s copy could not be read (${s.unread[0]!.why})`]);
});

test("play repair's rebuild: a follower's copy rebuilt from the leader's (R1 and back), every copy equal after, every value kept", { timeout: 120_000 }, async () => {
  const kv = await new Kvm(jetstream(nc, { timeout: 5000 })).open('READBACK');
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const before = await jsm.streams.info('KV_READBACK');
  const leader = before.cluster!.leader!;
  const victim = before.cluster!.replicas![0]!.name;
  const log: string[] = [];
  await rebuildCopies(nc, jsm, { stream: 'KV_READBACK', healthy: [leader], damaged: [victim] }, 30_000, (s) => log.push(s));
  assert.deepEqual(log.map((l) => l.replace(/\bn\d\b/g, 'nX').replace(/\d+/g, 'N')), ['KV_READBACK: led by nX (a healthy copy); RN -> RN', 'KV_READBACK: RN on nX; RN -> RN, the other copies rebuilt from it', 'KV_READBACK: RN, every replica current']);
  const after = await jsm.streams.info('KV_READBACK');
  assert.deepEqual([after.config.num_replicas, after.cluster?.leader, after.state.last_seq, after.state.messages], [3, leader, before.state.last_seq, before.state.messages]);
  const [s] = await readAllReplicas(nc, ['KV_READBACK']);
  assert.deepEqual(diverged(s!), []);
  assert.equal(s!.copies.length, 3);
  assert.equal((await kv.get('k3'))?.string(), 'v283');
  // A leader that is not a healthy copy, and cannot be made one, stops it before anything changes.
  await assert.rejects(rebuildCopies(nc, jsm, { stream: 'KV_READBACK', healthy: ['n9'], damaged: [] }, 5_000, () => undefined), /could not be moved onto the healthy copy of n9/);
  assert.equal((await jsm.streams.info('KV_READBACK')).config.num_replicas, 3);
});

test("a reader placed on a follower answers that follower's own copy: all of it with both other servers down", { timeout: 120_000 }, async () => {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const si = await jsm.streams.info('KV_READBACK');
  const follower = si.cluster!.replicas![0]!.name;
  const ci = await placeReader(jsm, 'KV_READBACK', follower, false);
  assert.equal(ci.cluster?.leader, follower);
  const at = servers.findIndex((s) => s.conf.serverName === follower);
  const others = servers.filter((_, i) => i !== at);
  const own = await connectInternal(servers[at]!.url, id);
  try {
    await Promise.all(others.map((s) => s.kill()));
    const c = await readThrough(jetstream(own, { timeout: 5000 }), 'KV_READBACK', follower, ci);
    assert.deepEqual([c.messages, c.lastSeq], [si.state.messages, si.state.last_seq], `${follower}'s copy read whole, alone`);
  } finally {
    await own.close().catch(() => undefined);
    await Promise.all(others.map((s) => s.start()));
    await waitClusterFormed(servers);
  }
});

describe('which copies play repair rebuilds', () => {
  const copy = (node: string, lastSeq: number, digest: string) => ({ node, messages: 10, lastSeq, digest });
  it('the copy that differs from a majority, or that could not be read', () => {
    assert.deepEqual(judgeCopies({ stream: 'S', copies: [copy('n1', 9, 'a'), copy('n2', 9, 'b'), copy('n3', 9, 'a')], unread: [] }, 3), { stream: 'S', healthy: ['n1', 'n3'], damaged: ['n2'] });
    assert.deepEqual(judgeCopies({ stream: 'S', copies: [copy('n1', 9, 'a'), copy('n3', 9, 'a')], unread: [{ node: 'n2', why: 'not current' }] }, 3), { stream: 'S', healthy: ['n1', 'n3'], damaged: ['n2'] });
    assert.deepEqual(judgeCopies({ stream: 'S', copies: [copy('n1', 9, 'a'), copy('n2', 9, 'a'), copy('n3', 9, 'a')], unread: [] }, 3), { stream: 'S', healthy: ['n1', 'n2', 'n3'], damaged: [] });
  });
  it('nothing without a majority of equal copies, or when the copies could not be compared', () => {
    assert.match(judgeCopies({ stream: 'S', copies: [copy('n1', 9, 'a'), copy('n2', 8, 'b'), copy('n3', 9, 'c')], unread: [] }, 3).undecided ?? '', /no 2 of its 3 copies hold the same/);
    assert.match(judgeCopies({ stream: 'S', copies: [copy('n1', 9, 'a')], unread: [{ node: 'n2', why: 'x' }, { node: 'n3', why: 'y' }] }, 3).undecided ?? '', /no 2 of its 3/);
    assert.match(judgeCopies({ stream: 'S', copies: [], unread: [{ node: '*', why: 'written to during each of 3 rounds' }] }, 3).undecided ?? '', /could not be compared \(written to/);
  });
  it('a named replica is rebuilt whatever it holds, when the others agree', () => {
    assert.deepEqual(judgeCopies({ stream: 'S', copies: [copy('n1', 9, 'a'), copy('n2', 9, 'a'), copy('n3', 9, 'a')], unread: [] }, 3, 'n2'), { stream: 'S', healthy: ['n1', 'n3'], damaged: ['n2'] });
    assert.match(judgeCopies({ stream: 'S', copies: [copy('n1', 9, 'a'), copy('n2', 9, 'a'), copy('n3', 9, 'b')], unread: [] }, 3, 'n2').undecided ?? '', /leaving n2 out/);
  });
  it('diverged names each copy that differs from the first, by stream and node', () => {
    assert.deepEqual(diverged({ stream: 'S', copies: [{ ...copy('n1', 9, 'aaaa'), firstSeq: 1 }, { ...copy('n2', 8, 'bbbb'), firstSeq: 1 }], unread: [{ node: 'n3', why: 'not current' }] }), [
      "S: n3's copy could not be read (not current)",
      'S: n2 (10 messages, first 1, last 8, sha256 bbbb) differs from n1 (10 messages, first 1, last 9, sha256 aaaa)',
    ]);
  });
});
