// The nats.js request work-around (src/daemon/nats/request-shim.ts), on the
// library's own RequestOne: a reply settles the request with no Error built
// for the no-op rejection after it, and every other way a request ends is
// unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestError, errors } from '@nats-io/nats-core';
import { RequestOne, type MuxSubscription } from '@nats-io/nats-core/internal';
import { installRequestShim } from '../../src/daemon/nats/request-shim.js';

assert.equal(installRequestShim(), true);

/** A request as nc.request() makes one (async traces off, as membershipd connects), with its mux and rejections recorded. */
function request(timeoutMs = 60_000) {
  const removed: unknown[] = [];
  const mux = { cancel: (r: unknown) => removed.push(r) } as unknown as MuxSubscription;
  const r = new RequestOne(mux, 'unibus.test', { timeout: timeoutMs }, false);
  const rejections: unknown[] = [];
  const reject = r.deferred.reject.bind(r.deferred);
  r.deferred.reject = (err?: Error) => {
    rejections.push(err);
    reject(err);
  };
  return { r, removed, rejections, settled: r.deferred.then((m) => ({ m }), (err: unknown) => ({ err })) };
}

test('a reply resolves the request, leaves the mux, and builds no error for the rejection after it', async () => {
  const { r, removed, rejections, settled } = request();
  const msg = { subject: 'reply' };
  r.resolver(null, msg as never);
  assert.deepEqual(await settled, { m: msg });
  assert.deepEqual(removed, [r], 'the request leaves the mux once');
  assert.equal(rejections.length, 1, 'cancel() still rejects (a no-op on a settled promise)');
  assert.ok(!(rejections[0] instanceof RequestError), 'with no RequestError built for it');
  installRequestShim(); // a second install changes nothing
  const again = request();
  again.r.resolver(null, msg as never);
  assert.ok(!(again.rejections[0] instanceof RequestError));
});

test('an error reply still rejects with a RequestError that carries its cause', async () => {
  const { r, removed, settled } = request();
  const cause = new errors.NoRespondersError('unibus.test');
  r.resolver(cause, undefined as never);
  const { err } = (await settled) as { err: RequestError };
  assert.ok(err instanceof RequestError);
  assert.equal(err.cause, cause);
  assert.ok(err.isNoResponders());
  assert.deepEqual(removed, [r]);
});

test('a request cancelled before any reply still rejects with RequestError "cancelled"', async () => {
  const { r, removed, settled } = request();
  r.cancel();
  const { err } = (await settled) as { err: Error };
  assert.ok(err instanceof RequestError);
  assert.equal(err.message, 'cancelled');
  assert.deepEqual(removed, [r]);
});

test('a request with no reply still times out, and its cancel() is the original one', async () => {
  const { r, removed, rejections, settled } = request(30);
  // As nc.request() does: race the timer with the reply, cancel on either error.
  const raced = Promise.race([r.timer, r.deferred]);
  raced.catch(() => r.cancel());
  await assert.rejects(raced, (err: unknown) => err instanceof errors.TimeoutError);
  const { err } = (await settled) as { err: Error };
  assert.ok(err instanceof RequestError && err.message === 'cancelled', `expected RequestError "cancelled", got ${err}`);
  assert.equal(rejections.length, 1);
  assert.deepEqual(removed, [r]);
});
