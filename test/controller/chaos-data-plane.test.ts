// The workload's NATS clients keep their connection through a node that
// refuses them for a while (a node back from a restart enforces its cached
// allow list until it syncs): nats.js by default gives up after the same
// authorization error twice in a row, whatever the reconnect policy, and a
// combined chaos run's workload ended on that "closed connection".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { createUser } from '@nats-io/nkeys';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { makeInternal } from '../harness/control-plane.js';
import { WORKLOAD_RECONNECT } from '../../src/controller/chaos/data-plane.js';
import type { AllowUser } from '../../src/daemon/nats/conf.js';
import { sleep } from '../../src/util/time.js';

const id = makeInternal();
const user = createUser();
const allowed: AllowUser = { nkey: user.getPublicKey(), permissions: { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } } };
let server: TestNatsServer;

before(async () => {
  [server] = await makeServers({ hosts: ['127.0.0.84'], internalNkey: id.publicKey, allowlist: [allowed] });
  await startServers([server!]);
});

after(async () => {
  await stopServers([server]);
});

/** Connects as the user, has the server drop it from its allow list, and says whether the client gave up within 4 s; the user is allowed again after. */
async function refusedFor4s(opts: Record<string, unknown>): Promise<{ nc: NatsConnection; closed: boolean }> {
  const nc = await connect({ servers: server.url, authenticator: nkeyAuthenticator(user.getSeed()), timeout: 2000, ...opts });
  await nc.flush();
  await server.setAllowlist([]);
  for (const until = Date.now() + 4000; Date.now() < until && !nc.isClosed(); ) await sleep(100);
  const closed = nc.isClosed();
  await server.setAllowlist([allowed]);
  return { nc, closed };
}

test("nats.js's default gives up on a node that refuses the user twice (what the workload must not do)", async () => {
  const { nc, closed } = await refusedFor4s({ reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  assert.equal(closed, true, 'the default closes the connection: the refusal was seen');
  await nc.close().catch(() => undefined);
});

test('the workload keeps trying through the refusals, and is back once the node allows the user again', async () => {
  const { nc, closed } = await refusedFor4s({ ...WORKLOAD_RECONNECT });
  assert.equal(closed, false, 'still trying after 4 s of refusals');
  let back = false;
  for (const until = Date.now() + 10_000; Date.now() < until && !back; ) {
    back = await Promise.race([nc.flush().then(() => true, () => false), sleep(2000).then(() => false)]);
    if (!back) await sleep(200);
  }
  assert.ok(back, 'connected again once allowed');
  await nc.close();
});
