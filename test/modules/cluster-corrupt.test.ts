// cluster_corrupt on the recording fake (refused while nats-server runs; the
// last block picked; the same pick, the same bytes) and its script run for
// real on a file: truncated to half, or eight bytes inverted, nothing else.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CORRUPT_SCRIPT, flipOffsets } from '../../src/modules/cluster/corrupt.js';
import { FAULT_FACT_SCRIPT } from '../../src/modules/cluster/fault.js';
import { getModule } from '../../src/modules/index.js';
import { FakeTransport } from '../harness/fake-transport.js';
import { makeCtx } from './helpers.js';

const DIR = '/srv/unibus/n1';
const corrupt = getModule('cluster_corrupt');
const hex = (argv: string[]) => Buffer.from(argv.join('\0') + '\0').toString('hex');
function host(natsRunning: boolean, blocks = true) {
  const t = new FakeTransport('n1');
  t.on((req) => req.argv[2] === FAULT_FACT_SCRIPT, () => ({ code: 0, stderr: '', stdout: natsRunning ? `nats 202 S ${hex(['/usr/bin/nats-server', '-c', `${DIR}/nats.conf`])}\n` : 'nats none\n' }));
  t.on((req) => req.argv[3] === 'unibus-blocks', () => ({ code: 0, stderr: '', stdout: blocks ? `4096 ${DIR}/jetstream/jetstream/$G/streams/KV_UNIBUS_rooms/msgs/2.blk\n9000 ${DIR}/jetstream/jetstream/$G/streams/KV_UNIBUS_rooms/msgs/10.blk\n` : '' }));
  return t;
}

describe('cluster_corrupt', () => {
  it('refuses while the node\'s nats-server runs; on a stopped node damages the last block only', async () => {
    const running = await corrupt.plan({ state_dir: DIR, stream: 'KV_UNIBUS_rooms', how: 'truncate' }, makeCtx(host(true)));
    assert.deepEqual([running.failed, running.commands.length], [true, 0]);
    assert.match(running.reason, /refused: nats-server \(pid 202\) runs/);
    const plan = await corrupt.plan({ state_dir: DIR, stream: 'KV_UNIBUS_rooms', how: 'bitflip', pick: 7 }, makeCtx(host(false)));
    const c = plan.commands[0]!;
    if (c.kind !== 'exec') throw new Error('exec expected');
    assert.deepEqual(c.argv.slice(3, 8), ['unibus-corrupt', 'bitflip', `${DIR}/jetstream/jetstream/$G/streams/KV_UNIBUS_rooms/msgs/10.blk`, `${DIR}/nats-server.pid`, '9000']);
    assert.deepEqual(c.argv.slice(8).map(Number), flipOffsets(9000, 7));
  });

  it('an empty copy (one being rebuilt from its peers) is left as it is, and the run goes on to bring the node back', async () => {
    const p = await corrupt.plan({ state_dir: DIR, stream: 'KV_UNIBUS_rooms', how: 'truncate' }, makeCtx(host(false, false)));
    assert.deepEqual([p.failed ?? false, p.changed, p.commands.length, p.result], [false, false, 0, { damaged: false }]);
    assert.match(p.reason, /nothing damaged: no message block of KV_UNIBUS_rooms/);
  });

  it('the same pick gives the same eight distinct offsets inside the file', () => {
    assert.deepEqual(flipOffsets(9000, 7), flipOffsets(9000, 7));
    assert.notDeepEqual(flipOffsets(9000, 7), flipOffsets(9000, 8));
    const o = flipOffsets(100, 3);
    assert.equal(new Set(o).size, 8);
    assert.ok(o.every((x) => x >= 0 && x < 100));
    assert.equal(flipOffsets(3, 1).length, 3, 'a file smaller than eight bytes: each byte once');
  });
});

describe('the corruption script, for real', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unibus-corrupt-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const data = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
  const run = (args: string[]) => spawnSync('sh', ['-c', CORRUPT_SCRIPT, 'unibus-corrupt', ...args], { encoding: 'utf8' });

  it('truncate halves the file', () => {
    const f = join(dir, 'a.blk');
    writeFileSync(f, data);
    const r = run(['truncate', f, join(dir, 'none.pid'), '64']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readFileSync(f), data.subarray(0, 32));
  });

  it('bitflip inverts exactly the bytes named', () => {
    const f = join(dir, 'b.blk');
    writeFileSync(f, data);
    const r = run(['bitflip', f, join(dir, 'none.pid'), '64', '0', '10', '63']);
    assert.equal(r.status, 0, r.stderr);
    const got = readFileSync(f);
    const want = Buffer.from(data);
    for (const i of [0, 10, 63]) want[i] = want[i]! ^ 0xff;
    assert.deepEqual(got, want);
  });

  it('refuses, changing nothing, when the pid file names a running nats-server', () => {
    const f = join(dir, 'c.blk');
    writeFileSync(f, data);
    const fake = spawnSync('sh', ['-c', `cp "$(command -v sleep)" ${dir}/nats-server && (${dir}/nats-server 30 </dev/null >/dev/null 2>&1 & echo $! > ${dir}/nats.pid)`]);
    assert.equal(fake.status, 0);
    const pid = Number(readFileSync(join(dir, 'nats.pid'), 'utf8'));
    try {
      const r = run(['truncate', f, join(dir, 'nats.pid'), '64']);
      assert.equal(r.status, 3);
      assert.match(r.stderr, /refused: nats-server pid \d+ runs/);
      assert.deepEqual(readFileSync(f), data);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });
});
