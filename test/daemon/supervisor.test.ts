// The supervisor forwards nats-server's own warnings and errors to the daemon's
// log (scrubbed), not its info lines, against a real nats-server whose route
// points at a closed port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsSupervisor } from '../../src/daemon/nats/supervisor.js';
import { fetchServerHealth } from '../../src/daemon/nats/monitor.js';
import { Secret } from '../../src/secret.js';
import { NATS_BIN } from '../harness/nats-server.js';
import { freePort } from '../harness/ports.js';
import { sleep } from '../../src/util/time.js';

/** A supervisor of a real nats-server in `dir`, its log lines in `lines`. */
async function supervisorIn(dir: string, lines: string[], name: string, extra: Partial<ConstructorParameters<typeof NatsSupervisor>[0]['conf']> = {}, scrub: string[] = []): Promise<NatsSupervisor> {
  return new NatsSupervisor({
    bin: NATS_BIN,
    confFile: join(dir, 'nats.conf'),
    debug: false,
    log: (l) => lines.push(l),
    scrub,
    conf: {
      serverName: name,
      host: '127.0.0.1',
      port: await freePort(),
      monitorPort: await freePort(),
      storeDir: join(dir, 'js'),
      syncInterval: '2m',
      internalNkey: null,
      allowlist: [],
      lameDuckDuration: '30s',
      lameDuckGracePeriod: '1s',
      ...extra,
    },
  });
}

test("forwards nats-server's warnings and errors (a repeat once), not its info lines, with the route secret scrubbed", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-sup-'));
  const pass = 'route-secret-Zq81';
  const closed = await freePort();
  const lines: string[] = [];
  const sup = await supervisorIn(dir, lines, 'sup1', {
    cluster: {
      name: 'suptest',
      host: '127.0.0.1',
      port: await freePort(),
      routes: [`nats-route://127.0.0.1:${closed}`],
      auth: { user: 'route', pass: new Secret(pass) },
    },
  }, [pass]);
  try {
    await sup.start();
    // nats-server logs a failed route connect at [ERR] about once a second.
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !lines.some((l) => /^nats-server: .*\[ERR\].*route/i.test(l))) await sleep(100);
    // nats-server retries the route every second; the journal gets the first line only.
    await sleep(3500);
    const forwarded = lines.filter((l) => l.startsWith('nats-server: '));
    assert.equal(forwarded.filter((l) => /Error trying to connect to route/.test(l)).length, 1, `repeats forwarded:\n${forwarded.join('\n')}`);
    assert.ok(
      forwarded.some((l) => /\[ERR\].*127\.0\.0\.1:\d+/.test(l)),
      `expected a forwarded route error, got:\n${lines.join('\n')}`,
    );
    assert.ok(!forwarded.some((l) => /\[INF\]/.test(l)), `info lines forwarded:\n${forwarded.join('\n')}`);
    assert.ok(!forwarded.some((l) => /failed to be ready for connections/.test(l)), `the readiness probe's own answers forwarded:\n${forwarded.join('\n')}`);
    assert.ok(!lines.some((l) => l.includes(pass)), 'the route secret reached the log');
    // Alone in its cluster, the server's own meta-layer check fails and says why (2.10: no meta leader; 2.15: meta layer still recovering).
    const h = await fetchServerHealth(sup.monitorPort);
    assert.equal(h.ok, false);
    assert.match(h.error ?? '', /meta (leader|layer)/i);
  } finally {
    await sup.stop(1000, 5000);
    await rm(dir, { recursive: true, force: true });
  }
});

test('restartChildWith: the work runs once the child has exited, then a fresh child starts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-sup-'));
  const lines: string[] = [];
  const sup = await supervisorIn(dir, lines, 'sup2');
  try {
    const first = await sup.start();
    let oldAlive: boolean | null = null;
    const back = await sup.restartChildWith('a test', async () => {
      try {
        process.kill(first, 0);
        oldAlive = true;
      } catch {
        oldAlive = false;
      }
    }, 30_000);
    assert.equal(back, true, lines.join('\n'));
    assert.equal(oldAlive, false, 'the work ran while the old child was still alive');
    assert.notEqual(sup.pid, first);
    assert.equal((await fetchServerHealth(sup.monitorPort)).ok, true);
    assert.ok(lines.some((l) => /restarting nats-server \(pid \d+\): a test/.test(l)), lines.join('\n'));
  } finally {
    await sup.stop(1000, 5000);
    await rm(dir, { recursive: true, force: true });
  }
});
