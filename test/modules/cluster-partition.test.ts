// cluster_partition on the recording fake: the table it would load, the
// watchdog bound, refusal of loopback peers and of a host without nft; and
// the ruleset checked by nft itself when this machine has it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHAOS_TABLE, PARTITION_SCRIPT, PARTITION_WATCHDOG_FILE, partitionRuleset } from '../../src/modules/cluster/partition.js';
import { getModule } from '../../src/modules/index.js';
import { FakeTransport } from '../harness/fake-transport.js';
import { makeCtx } from './helpers.js';

const partition = getModule('cluster_partition');
function host(state: 'none' | 'absent' | 'present') {
  const t = new FakeTransport('n1');
  t.on((req) => req.argv[0] === 'sh' && /command -v nft/.test(req.argv[2] ?? ''), () => ({
    code: 0,
    stderr: '',
    stdout: state === 'none' ? 'nft none\n' : state === 'absent' ? 'table absent\n' : 'table present\nip saddr { 10.99.1.12 } drop\nip daddr { 10.99.1.12 } drop\n',
  }));
  return t;
}

describe('cluster_partition', () => {
  it('cut: one nft transaction from stdin dropping both directions, after a watchdog bounded by hold_max', async () => {
    const plan = await partition.plan({ state: 'cut', peers: ['10.99.1.12', '10.99.1.13', 'fd00::2'], hold_max: 7 }, makeCtx(host('absent')));
    assert.equal(plan.changed, true);
    const c = plan.commands[0]!;
    assert.equal(c.kind, 'exec');
    if (c.kind !== 'exec') return;
    assert.deepEqual(c.argv, ['sh', '-c', PARTITION_SCRIPT, 'unibus-partition', 'cut', '7', PARTITION_WATCHDOG_FILE]);
    assert.equal(c.stdin, partitionRuleset(['10.99.1.12', '10.99.1.13', 'fd00::2']));
    assert.match(String(c.stdin), /ip saddr \{ 10\.99\.1\.12, 10\.99\.1\.13 \} drop/);
    assert.match(String(c.stdin), /ip6 daddr \{ fd00::2 \} drop/);
    assert.match(String(c.stdin), new RegExp(`^add table inet ${CHAOS_TABLE}\\ndelete table inet ${CHAOS_TABLE}\\n`));
    // The watchdog is started before the rules go in.
    assert.ok(PARTITION_SCRIPT.indexOf('setsid') < PARTITION_SCRIPT.indexOf('nft -f -'));
  });

  it('healed: deletes the table when it is there; otherwise only clears a watchdog (no change)', async () => {
    const on = await partition.plan({ state: 'healed' }, makeCtx(host('present')));
    assert.equal(on.changed, true);
    assert.match(on.reason, /partition removed \(ip saddr \{ 10\.99\.1\.12 \} drop; ip daddr/);
    const off = await partition.plan({ state: 'healed' }, makeCtx(host('absent')));
    assert.equal(off.changed, false);
    assert.equal(off.commands.length, 1);
    const none = await partition.plan({ state: 'healed' }, makeCtx(host('none')));
    assert.deepEqual([none.changed, none.commands.length], [false, 0]);
  });

  it('refuses loopback peers (nodes sharing one network stack), a host without nft, and a non-address', async () => {
    await assert.rejects(partition.plan({ state: 'cut', peers: ['127.0.0.12'] }, makeCtx(host('absent'))), /127\.0\.0\.12 on loopback: nodes sharing one network stack/);
    const t = host('none');
    const r = await partition.plan({ state: 'cut', peers: ['10.99.1.12'] }, makeCtx(t));
    assert.deepEqual([r.failed, r.commands.length], [true, 0]);
    assert.match(r.reason, /nft not found on this host: install nftables/);
    await assert.rejects(partition.plan({ state: 'cut', peers: ['n2'] }, makeCtx(host('absent'))), /"n2" is not an IP address/);
  });
});
