// A node with a wrong clock on a real 3-node loopback cluster at R3. First
// the hazard: a request captured 151 s ago, whose nonce has expired (the
// bucket's TTL is 150 s; an expiry leaves what a purge leaves), is refused
// as stale by a node with a right clock but accepted by a node 100 s behind,
// whose 60 s window still takes its timestamp. Then the defense: each node
// measures its clock against the others' (store/clock.ts) and the skewed one
// refuses signed requests with 503 clock_skew, naming its skew, while the
// others keep serving. The real daemon wiring (/healthz, the test-only
// offset) is covered by node tests; this one drives the /v1 handlers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal, makeUser, openTestStore } from '../harness/control-plane.js';
import { clientFor, makeV1Handler } from '../harness/control-app.js';
import type { Store } from '../../src/daemon/store/buckets.js';
import { QuorumGuard } from '../../src/daemon/store/quorum.js';
import { addUser } from '../../src/daemon/store/users.js';
import { ClockWatch, CLOCK_SKEW_MAX_MS, listClockKeys, skewOf } from '../../src/daemon/store/clock.js';
import { HEALTH_BUCKET } from '../../src/daemon/node.js';
import { testClockOffset } from '../../src/daemon/clock.js';
import { newNonce } from '../../src/protocol/sign.js';

const HOSTS = ['127.0.0.47', '127.0.0.48', '127.0.0.49'];
const SKEW = -100_000;
let servers: TestNatsServer[] = [];
const ncs: NatsConnection[] = [];
const stores: Store[] = [];
const guards: QuorumGuard[] = [];
const kvs: KV[] = [];
const id = makeInternal();
const admin = makeUser('admin');
const bob = makeUser('bob');
// The third node reads its clock SKEW off, as membershipd does under MEMBERSHIPD_TEST_CLOCK_OFFSET_MS (daemon/clock.ts).
const now = [Date.now, Date.now, () => Date.now() + SKEW];

before(async () => {
  servers = await makeServers({ hosts: HOSTS, internalNkey: id.publicKey });
  await startServers(servers);
  for (const [i, s] of servers.entries()) {
    ncs[i] = await connectInternal(s.url, id);
    stores[i] = await openTestStore(ncs[i]!, 3);
    guards[i] = new QuorumGuard(stores[i]!, 250);
    await guards[i]!.start();
  }
  kvs[0] = await new Kvm(ncs[0]!).create(HEALTH_BUCKET, { replicas: 3, history: 1 });
  for (const i of [1, 2]) kvs[i] = await new Kvm(ncs[i]!).open(HEALTH_BUCKET);
  await addUser(stores[0]!, { handle: 'admin', sign_pub: admin.sign_pub, role: 'admin' });
  await addUser(stores[0]!, { handle: 'bob', sign_pub: bob.sign_pub, role: 'member' });
});

after(async () => {
  for (const g of guards) g.stop();
  for (const c of ncs) await c.close().catch(() => {});
  await stopServers(servers);
});

/** A request bob signed 151 s ago; its nonce was claimed then and has expired since. */
async function capturedRequest(): Promise<{ ts: number; nonce: string }> {
  const nonce = newNonce();
  const ts = Date.now() - 151_000;
  await stores[0]!.kv.nonces.put(`bob.${nonce}`, JSON.stringify(ts));
  await stores[0]!.kv.nonces.purge(`bob.${nonce}`);
  return { ts, nonce };
}

const send = (node: number, deps: { clock?: ClockWatch }, r: { ts: number; nonce: string }) =>
  clientFor(bob, makeV1Handler({ store: stores[node]!, guard: guards[node], now: now[node], ...deps })).raw('GET', '/v1/users/me', undefined, r);

const codeOf = (body: Uint8Array) => (JSON.parse(Buffer.from(body).toString('utf8')) as { error: { code: string; message: string } }).error;

test('without the clock watch, a node 100 s behind accepts a replay whose nonce has expired', async () => {
  const r = await capturedRequest();
  const right = await send(0, {}, r);
  assert.equal(right.status, 401);
  assert.equal(codeOf(right.body).code, 'stale_timestamp');
  const skewed = await send(2, {}, r);
  assert.equal(skewed.status, 200, 'the hazard: the replay is served');
});

test('with it, the skewed node names its skew and refuses signed requests; the others serve', { timeout: 30_000 }, async () => {
  const watches = [0, 1, 2].map((i) => new ClockWatch(kvs[i]!, () => listClockKeys(stores[i]!.jsm, HEALTH_BUCKET), `n${i + 1}`, now[i]));
  // The peers are found without a consumer: each one made is a meta-group proposal.
  const made = ncs[0]!.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.CREATED.KV_${HEALTH_BUCKET}.>`);
  await ncs[0]!.flush();
  // Two rounds: each node's first write, then every node sees the others.
  for (let round = 0; round < 2; round++) for (const w of watches) await w.measure();
  await ncs[0]!.flush();
  made.unsubscribe();
  assert.equal(made.getReceived(), 0, 'consumers made on the health bucket');
  const [a, b, c] = watches.map((w) => w.state);
  assert.deepEqual((await listClockKeys(stores[1]!.jsm, HEALTH_BUCKET)).sort(), ['clock.n1', 'clock.n2', 'clock.n3']);
  assert.ok(a!.ok && b!.ok, `the right clocks pass: ${JSON.stringify([a, b])}`);
  assert.ok(Math.abs(a!.skewMs!) < 1000 && Math.abs(b!.skewMs!) < 1000);
  assert.equal(c!.ok, false);
  assert.ok(!c!.ok && Math.abs(c!.skewMs - SKEW) < 1000, `measured ${c!.skewMs} ms`);
  assert.match(!c!.ok ? c!.reason : '', /^clock skew: this node's clock is 100\.\d s behind the cluster's \(median of 3 nodes; bound 10 s\): signed requests refused/);

  const refused = await send(2, { clock: watches[2] }, await capturedRequest());
  assert.equal(refused.status, 503);
  assert.deepEqual(codeOf(refused.body).code, 'clock_skew');
  const fresh = await send(2, { clock: watches[2] }, { ts: now[2]!(), nonce: newNonce() });
  assert.equal(fresh.status, 503, 'every signed request, not only old ones');
  const served = await send(0, { clock: watches[0] }, { ts: Date.now(), nonce: newNonce() });
  assert.equal(served.status, 200);
});

test('one wrong clock is the odd one out even when it is the leader\'s: the median decides', () => {
  const at = 1_000_000;
  // The leader (offset 0 by definition) is 100 s ahead of the two others: both look -100 s to it.
  const leader = { node: 'n1', offsetMs: 0, at };
  const others = [{ node: 'n2', offsetMs: -100_000, at }, { node: 'n3', offsetMs: -100_200, at }];
  assert.equal(skewOf(leader, others), 100_000, 'the leader is the skewed one');
  assert.ok(Math.abs(skewOf(others[0]!, [leader, others[1]!])) <= 200, 'the others agree with each other');
  assert.ok(CLOCK_SKEW_MAX_MS < 150_000 - 60_000, 'the bound is under the gap between the nonce TTL and the timestamp window');
});

test('the test-only offset is read strictly', () => {
  assert.equal(testClockOffset({}), 0);
  assert.equal(testClockOffset({ MEMBERSHIPD_TEST_CLOCK_OFFSET_MS: '-100000' }), -100_000);
  assert.throws(() => testClockOffset({ MEMBERSHIPD_TEST_CLOCK_OFFSET_MS: '1.5s' }), /MEMBERSHIPD_TEST_CLOCK_OFFSET_MS: expected an integer number of milliseconds, got "1.5s"/);
});
