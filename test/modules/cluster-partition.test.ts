// cluster_partition on the recording fake: the table it would load, the
// watchdog bound, refusal of loopback peers and of a host without nft; and
// the ruleset checked by nft itself when this machine has it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { CHAOS_TABLE, PARTITION_SCRIPT, PARTITION_WATCHDOG_FILE, partitionRuleset, sharedNames } from '../../src/modules/cluster/partition.js';
import { FAULT_FACT_SCRIPT } from '../../src/modules/cluster/fault.js';
import { getModule } from '../../src/modules/index.js';
import { FakeTransport } from '../harness/fake-transport.js';
import { makeCtx } from './helpers.js';

const partition = getModule('cluster_partition');
const DIR = '/srv/unibus/n1';
const hex = (argv: string[]) => Buffer.from(argv.join('\0') + '\0').toString('hex');
function host(state: 'none' | 'absent' | 'present', cgroup2 = '/sys/fs/cgroup') {
  const t = new FakeTransport('n1');
  t.on((req) => req.argv[0] === 'sh' && /command -v nft/.test(req.argv[2] ?? ''), () => ({
    code: 0,
    stderr: '',
    stdout: state === 'none' ? 'nft none\n' : `${state === 'absent' ? 'table absent\n' : 'table present\nip saddr { 10.99.1.12 } drop\nip daddr { 10.99.1.12 } drop\n'}cgroup2 ${cgroup2}\n`,
  }));
  t.on((req) => req.argv[2] === FAULT_FACT_SCRIPT, () => ({
    code: 0,
    stderr: '',
    stdout: `membershipd 101 S ${hex(['/usr/bin/node', `${DIR}/app/membershipd.mjs`])}\nnats 202 S ${hex(['/usr/bin/nats-server', '-c', `${DIR}/nats.conf`])}\n`,
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
    assert.deepEqual(c.argv, ['sh', '-c', PARTITION_SCRIPT, 'unibus-partition', 'cut', '7', PARTITION_WATCHDOG_FILE, CHAOS_TABLE]);
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

  it("peers on loopback (nodes sharing one host): this node's processes moved into its own cgroup, and only what they send to the peers dropped", async () => {
    const { table, cgroup } = sharedNames(DIR);
    for (const [mount, path] of [['/sys/fs/cgroup', cgroup], ['/sys/fs/cgroup/unified', `unified/${cgroup}`]] as const) {
      const plan = await partition.plan({ state: 'cut', peers: ['127.0.0.12', '127.0.0.13'], state_dir: DIR, hold_max: 5 }, makeCtx(host('absent', mount)));
      const c = plan.commands[0]!;
      if (c.kind !== 'exec') throw new Error('exec expected');
      assert.deepEqual(c.argv.slice(3), ['unibus-partition', 'cut', '5', `${DIR}/chaos-partition.pid`, table, `${mount}/${cgroup}`, '127.0.0.12,127.0.0.13', '101', '202']);
      assert.match(String(c.stdin), new RegExp(`socket cgroupv2 level 1 "${path}" ip daddr \\{ 127\\.0\\.0\\.12, 127\\.0\\.0\\.13 \\} drop`));
      assert.doesNotMatch(String(c.stdin), /saddr|hook input/, 'output only: the peers cut their own side');
    }
    const outside = await partition.plan({ state: 'cut', peers: ['127.0.0.12'], state_dir: DIR }, makeCtx(host('absent', '/cgroup2')));
    assert.match(outside.reason, /cgroup v2 is mounted at \/cgroup2, outside \/sys\/fs\/cgroup/);
  });

  it('refuses loopback peers without state_dir, mixed peers, a host without nft, and a non-address', async () => {
    await assert.rejects(partition.plan({ state: 'cut', peers: ['127.0.0.12'] }, makeCtx(host('absent'))), /127\.0\.0\.12 share this host's loopback: state_dir is needed/);
    await assert.rejects(partition.plan({ state: 'cut', peers: ['127.0.0.12', '10.0.0.2'], state_dir: DIR }, makeCtx(host('absent'))), /expected peers all on this host's loopback or all on other hosts/);
    const t = host('none');
    const r = await partition.plan({ state: 'cut', peers: ['10.99.1.12'] }, makeCtx(t));
    assert.deepEqual([r.failed, r.commands.length], [true, 0]);
    assert.match(r.reason, /nft not found on this host: install nftables/);
    await assert.rejects(partition.plan({ state: 'cut', peers: ['n2'] }, makeCtx(host('absent'))), /"n2" is not an IP address/);
  });
});

// nft itself judges the rulesets (a check run, -c, in an empty network namespace), when this machine has nft and unshare.
const nft = spawnSync('sh', ['-c', 'command -v nft && command -v unshare'], { encoding: 'utf8' }).status === 0;
describe('the rulesets as nft reads them', { skip: !nft && 'nft or unshare not installed (scripts/setup-tests.sh installs them)' }, () => {
  it('both forms load', () => {
    for (const rules of [partitionRuleset(['10.99.1.12', 'fd00::2']), partitionRuleset(['127.0.0.12'], 'unibus_chaos_x', { path: '', level: 0 })]) {
      const r = spawnSync('unshare', ['--net', 'nft', '-c', '-f', '-'], { input: rules, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr + rules);
    }
  });
});
