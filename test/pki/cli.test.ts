// `unibus pki` end to end on a real inventory file, in process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { run } from '../../src/cli/pki.js';
import { makeWorkdir } from './fixture.js';

const INVENTORY = `cluster:
  name: pki-cli
  ports: { http: 8470, nats: 4250, route: 6250 }
  route_network: public
  kv_replicas: 3
defaults:
  connection: local
  service_manager: process
nodes:
  - name: n1
    host: n1.bus.example
    public_ip: 198.51.100.1
    wg_ip: 10.8.0.1
  - name: n2
    public_ip: 198.51.100.2
  - name: n3
    public_ip: 198.51.100.3
`;

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const log = mock.method(console, 'log', () => {});
  const error = mock.method(console, 'error', () => {});
  try {
    const code = await run(args);
    const text = (m: typeof log) => m.mock.calls.map((c) => c.arguments.join(' ')).join('\n');
    return { code, out: text(log), err: text(error) };
  } finally {
    log.mock.restore();
    error.mock.restore();
  }
}

describe('unibus pki', () => {
  let w: Awaited<ReturnType<typeof makeWorkdir>>;
  let inv: string;
  before(async () => {
    w = await makeWorkdir();
    inv = join(w.dir, 'inventory.yaml');
    await writeFile(inv, INVENTORY);
  });
  after(() => w.cleanup());

  it('check on a fresh tree lists what mint would do; mint does it; a second mint does nothing', async () => {
    const check = await cli('check', '-i', inv);
    assert.equal(check.code, 0, check.err);
    assert.match(check.out, /mint +.*secrets\/client-ca\.pem, .*secrets\/client-ca\.key: missing/);
    assert.match(check.out, /mint +.*out\/n1\/server\.pem, .*out\/n1\/server\.key: the client CA is new/);
    await assert.rejects(stat(join(w.dir, 'secrets')), { code: 'ENOENT' }, 'check wrote nothing');

    const mint = await cli('mint', '-i', inv, '--admin');
    assert.equal(mint.code, 0, mint.err);
    assert.match(mint.out, /admin public key \(Ed25519, hex\): [0-9a-f]{64}/);
    assert.equal((await readFile(join(w.dir, 'secrets', 'admin.pub'), 'utf8')).trim(), mint.out.match(/hex\): ([0-9a-f]{64})/)![1]);
    // SANs come from the inventory: public_ip, wg_ip, host, name.
    const route = new X509Certificate(await readFile(join(w.dir, 'out', 'n1', 'route.pem')));
    assert.equal(route.subjectAltName, 'IP Address:198.51.100.1, IP Address:10.8.0.1, DNS:n1.bus.example, DNS:n1');

    const again = await cli('mint', '-i', inv);
    assert.equal(again.code, 0);
    assert.match(again.out, /nothing to mint/);
    const recheck = await cli('check', '-i', inv);
    assert.match(recheck.out, /keep +.*out\/n2\/route\.pem.*valid until \d{4}-\d\d-\d\d, SANs match +sha256:[0-9a-f]{64}/);
    assert.doesNotMatch(recheck.out + mint.out, /PRIVATE KEY/);
  });

  it('rotate, refuse a second rotation, drop', async () => {
    const rot = await cli('rotate-route-ca', '-i', inv);
    assert.equal(rot.code, 0, rot.err);
    assert.match(rot.out, /retire .*route-ca\.pem -> .*route-ca\.old\.pem/);
    const twice = await cli('rotate-route-ca', '-i', inv);
    assert.equal(twice.code, 1);
    assert.match(twice.err, /refused: .*route-ca\.old\.pem exists/);
    const drop = await cli('drop-old-route-ca', '-i', inv);
    assert.equal(drop.code, 0, drop.err);
    assert.match(drop.out, /remove .*route-ca\.old\.pem/);
  });

  it('bad input exits 2 with file:line:col; unknown subcommand exits 2', async () => {
    await writeFile(inv, INVENTORY.replace('198.51.100.3', '<PUBLIC_IP>'));
    const r = await cli('mint', '-i', inv);
    assert.equal(r.code, 2);
    assert.match(r.err, /inventory\.yaml:\d+:\d+: nodes\[2\]\.public_ip/);
    assert.equal((await cli('frobnicate')).code, 2);
  });

  it('one mint at a time: a live lock refuses, a stale one is taken over', async () => {
    await writeFile(inv, INVENTORY);
    const lock = join(w.dir, 'secrets', '.pki.lock');
    await writeFile(lock, String(process.pid));
    const held = await cli('mint', '-i', inv);
    assert.equal(held.code, 1);
    assert.match(held.err, new RegExp(`another pki run \\(pid ${process.pid}\\)`));
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await writeFile(lock, String(dead));
    const taken = await cli('mint', '-i', inv);
    assert.equal(taken.code, 0, taken.err);
    await assert.rejects(stat(lock), { code: 'ENOENT' }, 'lock released');
  });
});
