// Batched writes on membershipd's NATS connections (src/daemon/nats/write-batch.ts),
// on the library's own NodeTransport over a socket that records its writes:
// what one turn of the event loop hands over goes out as one write, in order;
// close and disconnect write what is held before the socket goes. Then on a
// real nats-server, through membershipd's own connect: the connection the
// library builds is the one batched, and every request still gets its reply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeTransport } from '@nats-io/transport-node/lib/node_transport.js';
import { installWriteBatching } from '../../src/daemon/nats/write-batch.js';
import { connectInternal } from '../../src/daemon/nats/connect.js';
import { makeServers, stopServers } from '../harness/nats-server.js';

assert.equal(installWriteBatching(), true);

const enc = (s: string) => new TextEncoder().encode(s);
const turn = () => new Promise((r) => setImmediate(r));

/** A connected transport whose socket records each write as text, and when it was destroyed. */
function transport() {
  const log: string[] = [];
  const socket = {
    write(buf: Uint8Array, cb: (err?: Error) => void) {
      log.push(Buffer.from(buf).toString());
      queueMicrotask(() => cb());
      return true;
    },
    removeAllListeners() {},
    destroy() {
      log.push('<destroyed>');
    },
  };
  const t = new NodeTransport();
  Object.assign(t, { socket, connected: true, options: {} });
  return { t, log };
}

test('what one turn of the loop sends goes out as one write, in order, once the turn ends', async () => {
  const { t, log } = transport();
  t.send(enc('PUB a 1\r\nx\r\n'));
  await Promise.resolve(); // a later microtask, as nats.js flushes
  t.send(enc('PUB b 1\r\ny\r\n'));
  t.send(enc('PING\r\n'));
  assert.deepEqual(log, [], 'nothing is written before the turn ends');
  await turn();
  assert.deepEqual(log, ['PUB a 1\r\nx\r\nPUB b 1\r\ny\r\nPING\r\n']);
  t.send(enc('PUB c 1\r\nz\r\n'));
  await turn();
  assert.deepEqual(log.slice(1), ['PUB c 1\r\nz\r\n'], 'the next turn gets a write of its own');
});

test('sends from separate I/O callbacks of one turn share a write', async () => {
  const { t, log } = transport();
  // Three callbacks queued for the same phase of one turn, as socket reads of
  // three HTTP connections are: the first send's flush is queued after them.
  await new Promise<void>((done) => {
    setImmediate(() => t.send(enc('1')));
    setImmediate(() => t.send(enc('2')));
    setImmediate(() => {
      t.send(enc('3'));
      setImmediate(done);
    });
  });
  await turn();
  assert.deepEqual(log, ['123']);
});

test('close and disconnect write what is held before the socket is destroyed', async () => {
  const closing = transport();
  closing.t.send(enc('UNSUB 1\r\n'));
  await closing.t.close();
  assert.deepEqual(closing.log, ['UNSUB 1\r\n', '<destroyed>']);

  const dropping = transport();
  dropping.t.send(enc('PUB d 1\r\nw\r\n'));
  dropping.t.disconnect();
  await dropping.t.closed();
  assert.equal(dropping.log[0], 'PUB d 1\r\nw\r\n');
  assert.equal(dropping.log.at(-1), '<destroyed>');
  await turn();
  assert.equal(dropping.log.filter((l) => l.startsWith('PUB')).length, 1, 'nothing is written twice');
});

test('on a real nats-server, requests from separate callbacks of one turn share writes and each gets its reply', async (t) => {
  const servers = await makeServers({ hosts: ['127.0.0.63'], internalNkey: null });
  let nc: Awaited<ReturnType<typeof connectInternal>> | undefined;
  t.after(async () => {
    await nc?.close();
    await stopServers(servers);
  });
  await servers[0].start();
  nc = await connectInternal({ servers: servers[0].url, seed: null });
  const conn = nc;
  conn.subscribe('unibus.echo', {
    callback: (_err, m) => {
      m.respond(m.data);
    },
  });
  await conn.flush();
  const socket = (conn as unknown as { protocol: { transport: { socket: { write: (...a: unknown[]) => boolean } } } }).protocol.transport.socket;
  let writes = 0;
  const write = socket.write.bind(socket);
  socket.write = (...a: unknown[]) => {
    writes++;
    return write(...a);
  };
  // 50 requests, each from a callback of its own, as 50 HTTP requests read in one turn.
  const replies = await new Promise<Promise<string>[]>((done) => {
    const out: Promise<string>[] = [];
    for (let i = 0; i < 50; i++) {
      setImmediate(() => {
        out.push(conn.request('unibus.echo', `m${i}`, { timeout: 5000 }).then((m) => m.string()));
        if (out.length === 50) done(out);
      });
    }
  });
  assert.deepEqual(await Promise.all(replies), Array.from({ length: 50 }, (_, i) => `m${i}`));
  // Unbatched: 50 writes for the requests alone, and more for the replies sent back.
  assert.ok(writes >= 1 && writes <= 12, `50 requests and their 50 replies took ${writes} socket writes`);
});
