// cluster_preflight's script, run for real with sh: which ports it finds
// held, and that it finds them without connecting to them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PREFLIGHT_SCRIPT } from '../../src/modules/cluster/preflight.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-preflight-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function busy(ip: string, ports: number[]): string[] {
  const r = spawnSync('sh', ['-c', PREFLIGHT_SCRIPT, 'preflight', ip, dir, 'process', 'membershipd', join(dir, 'none.pid'), ...ports.map(String)], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const m = /busy=(\S*)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m[1]!.split(',').filter(Boolean);
}

function listen(host: string): Promise<{ server: Server; port: number; connections: () => number }> {
  return new Promise((resolve) => {
    let n = 0;
    const server = createServer((s) => {
      n++;
      s.destroy();
    });
    server.listen(0, host, () => resolve({ server, port: (server.address() as { port: number }).port, connections: () => n }));
  });
}

describe('cluster_preflight script, run for real', () => {
  let at: Awaited<ReturnType<typeof listen>>;
  let wild: Awaited<ReturnType<typeof listen>>;
  before(async () => {
    at = await listen('127.0.0.61');
    wild = await listen('0.0.0.0');
  });
  after(() => {
    at.server.close();
    wild.server.close();
  });

  it('a port listened on at the address, or at the wildcard, is busy; others are free', async () => {
    const free = await listen('127.0.0.61');
    const freePort = free.port;
    await new Promise((r) => free.server.close(r));
    assert.deepEqual(busy('127.0.0.61', [at.port, wild.port, freePort]), [String(at.port), String(wild.port)]);
    // The same port at another address is not this node's concern.
    assert.deepEqual(busy('127.0.0.62', [at.port]), []);
  });

  it('finds a listener without connecting to it', () => {
    busy('127.0.0.61', [at.port, wild.port]);
    assert.equal(at.connections(), 0);
    assert.equal(wild.connections(), 0);
  });
});
