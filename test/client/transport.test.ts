// The client's own HTTP transport against a real node:http server that
// drops connections on purpose: a request that met a kept-alive connection the
// server closed is sent again once, with the same nonce; any other failure is
// the caller's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { UnibusClient } from '../../src/client/client.js';
import { makeUser } from '../harness/control-plane.js';

const user = makeUser('alice');
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A server that answers 200, except that `drop(req, nth)` ends the connection instead. */
async function serve(drop: (nthOnSocket: number) => boolean): Promise<{ url: string; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const count = new WeakMap<Socket, number>();
  const server = createServer((req, res) => {
    const n = (count.get(req.socket) ?? 0) + 1;
    count.set(req.socket, n);
    seen.push(req);
    if (drop(n)) return void req.socket.destroy();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ n }));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

test('a kept-alive connection dropped by the server is retried once on a new one, with the same nonce', async () => {
  // The second request on any connection finds it closed.
  const { url, seen } = await serve((n) => n === 2);
  const c = new UnibusClient({ baseUrl: url, handle: user.handle, seed: user.seed, timeoutMs: 5000 });
  assert.equal((await c.raw('GET', '/v1/users/me')).status, 200);
  const r = await c.raw('GET', '/v1/users/me');
  assert.equal(r.status, 200);
  assert.equal(r.json<{ n: number }>().n, 1, 'answered on a new connection');
  assert.equal(seen.length, 3);
  assert.equal(seen[2]!.headers['x-unibus-nonce'], seen[1]!.headers['x-unibus-nonce']);
  assert.notEqual(seen[1]!.socket, seen[2]!.socket);
  c.close();
});

test('a connection dropped on its first request is not retried', async () => {
  const { url, seen } = await serve(() => true);
  const c = new UnibusClient({ baseUrl: url, handle: user.handle, seed: user.seed, timeoutMs: 5000 });
  await assert.rejects(c.raw('GET', '/v1/users/me'), /socket hang up|ECONNRESET/);
  assert.equal(seen.length, 1);
  c.close();
});
