// Signed-request verification against a real single nats-server store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fromSeed } from '@nats-io/nkeys';
import type { NatsConnection } from '@nats-io/nats-core';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal, makeUser, openTestStore } from '../harness/control-plane.js';
import type { Store } from '../../src/daemon/store/buckets.js';
import { ApiError } from '../../src/protocol/errors.js';
import { addUser, revokeUser } from '../../src/daemon/store/users.js';
import { verifyRequest, type IncomingSigned } from '../../src/daemon/auth/verify.js';
import { signHeaders } from '../../src/protocol/sign.js';
import { nkeyFromRaw, nkeySeedFromRaw, rawPublicKey, signBytes, verifyBytes } from '../../src/protocol/ed25519.js';

let servers: TestNatsServer[] = [];
let nc: NatsConnection;
let store: Store;
const id = makeInternal();
const alice = makeUser('alice');
const mallory = makeUser('mallory');

before(async () => {
  servers = await makeServers({ hosts: ['127.0.0.42'], internalNkey: id.publicKey });
  await startServers(servers);
  nc = await connectInternal(servers[0].url, id);
  store = await openTestStore(nc, 1);
  await addUser(store, { handle: 'alice', sign_pub: alice.sign_pub, role: 'member' });
  await addUser(store, { handle: 'mallory', sign_pub: mallory.sign_pub, role: 'member' });
});

after(async () => {
  await nc?.close().catch(() => {});
  await stopServers(servers);
});

function signed(u = alice, o: { ts?: number; nonce?: string; body?: string; path?: string; handle?: string } = {}): IncomingSigned {
  const body = Buffer.from(o.body ?? '{"a":1}');
  const h = signHeaders({ handle: o.handle ?? u.handle, seed: u.seed, method: 'POST', pathAndQuery: o.path ?? '/v1/rooms', body, ts: o.ts, nonce: o.nonce });
  return { method: 'POST', pathAndQuery: '/v1/rooms', header: (n) => h[n], body };
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  assert.fail('expected a refusal');
}

test('raw keys: node:crypto signatures verify, and the nkey form matches @nats-io/nkeys', () => {
  const pub = rawPublicKey(alice.seed);
  const sig = signBytes(alice.seed, Buffer.from('x'));
  assert.equal(verifyBytes(pub, Buffer.from('x'), sig), true);
  assert.equal(verifyBytes(pub, Buffer.from('y'), sig), false);
  const kp = fromSeed(nkeySeedFromRaw(alice.seed));
  assert.equal(kp.getPublicKey(), nkeyFromRaw(pub));
  assert.ok(kp.verify(Buffer.from('x'), sig));
});

test('a correctly signed request yields its user', async () => {
  const u = await verifyRequest(store, undefined, signed());
  assert.equal(u.handle, 'alice');
});

test('a signature over other content is refused bad_signature', async () => {
  const r = signed();
  const e = await refusal(verifyRequest(store, undefined, { ...r, body: Buffer.from('{"a":2}') }));
  assert.equal(e.code, 'bad_signature');
  const e2 = await refusal(verifyRequest(store, undefined, { ...r, pathAndQuery: '/v1/rooms?x=1' }));
  assert.equal(e2.code, 'bad_signature');
  const e3 = await refusal(verifyRequest(store, undefined, signed(mallory, { handle: 'alice' })));
  assert.equal(e3.code, 'bad_signature');
});

test('an unknown handle answers exactly like a bad signature', async () => {
  const ghost = makeUser('ghost');
  const e1 = await refusal(verifyRequest(store, undefined, signed(ghost)));
  const e2 = await refusal(verifyRequest(store, undefined, signed(mallory, { handle: 'alice' })));
  assert.deepEqual(e1.toJSON(), e2.toJSON());
  assert.equal(e1.status, 401);
});

test('timestamps outside the window are refused', async () => {
  const e = await refusal(verifyRequest(store, undefined, signed(alice, { ts: Date.now() - 120_000 })));
  assert.equal(e.code, 'stale_timestamp');
  const f = await refusal(verifyRequest(store, undefined, signed(alice, { ts: Date.now() + 120_000 })));
  assert.equal(f.code, 'stale_timestamp');
});

test('a replayed request is refused', async () => {
  const r = signed(alice, { nonce: 'replay-nonce-000001' });
  await verifyRequest(store, undefined, r);
  const e = await refusal(verifyRequest(store, undefined, r));
  assert.equal(e.code, 'replay');
});

test('missing or malformed headers are refused with the header named', async () => {
  const r = signed();
  const e = await refusal(verifyRequest(store, undefined, { ...r, header: (n) => (n === 'x-unibus-nonce' ? 'short' : r.header(n)) }));
  assert.equal(e.code, 'bad_signature');
  assert.match(e.message, /x-unibus-nonce/);
});

test('a revoked user is refused revoked, even with a valid signature', async () => {
  await revokeUser(store, 'mallory');
  const e = await refusal(verifyRequest(store, undefined, signed(mallory)));
  assert.equal(e.code, 'revoked');
});
