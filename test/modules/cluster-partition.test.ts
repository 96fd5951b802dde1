// cluster_partition on the recording fake: the table it would load, the
// watchdog bound, refusal of loopback peers and of a host without nft; then
// the rulesets checked by nft itself, and the script run for real in a
// network namespace of its own: cuts that compose and heal one by one, a
// watchdog that deletes only its own cut, and a process started since a cut
// moved into the node's cgroup and back out at heal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHAOS_TABLE, PARTITION_SCRIPT, PARTITION_WATCHDOG_FILE, cutTag, partitionRuleset, rulePeers, sharedNames } from '../../src/modules/cluster/partition.js';
import { FAULT_FACT_SCRIPT } from '../../src/modules/cluster/fault.js';
import { getModule } from '../../src/modules/index.js';
import { FakeTransport } from '../harness/fake-transport.js';
import { makeCtx } from './helpers.js';

const partition = getModule('cluster_partition');
const DIR = '/srv/unibus/n1';
const hex = (argv: string[]) => Buffer.from(argv.join('\0') + '\0').toString('hex');
/** A host whose facts show `tables` (name: rules) and `inside` the node's cgroup. */
function host(state: 'none' | 'absent' | 'present', cgroup2 = '/sys/fs/cgroup', tables: Record<string, string[]> = { [CHAOS_TABLE]: ['ip saddr { 10.99.1.12 } drop', 'ip daddr { 10.99.1.12 } drop'] }, inside: number[] = []) {
  const t = new FakeTransport('n1');
  t.on((req) => req.argv[0] === 'sh' && /command -v nft/.test(req.argv[2] ?? ''), () => ({
    code: 0,
    stderr: '',
    stdout:
      state === 'none'
        ? 'nft none\n'
        : `${state === 'absent' ? '' : Object.entries(tables).map(([n, rules]) => `table ${n}\n${rules.map((r) => `rule ${r}\n`).join('')}`).join('')}cgroup2 ${cgroup2}\n${inside.map((p) => `inside ${p}\n`).join('')}`,
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
    assert.deepEqual(c.argv, ['sh', '-c', PARTITION_SCRIPT, 'unibus-partition', 'cut', '7', PARTITION_WATCHDOG_FILE, CHAOS_TABLE, '/run/unibus-partition.cgroups']);
    assert.equal(c.stdin, partitionRuleset(['10.99.1.12', '10.99.1.13', 'fd00::2']));
    assert.match(String(c.stdin), /ip saddr \{ 10\.99\.1\.12, 10\.99\.1\.13 \} drop/);
    assert.match(String(c.stdin), /ip6 daddr \{ fd00::2 \} drop/);
    assert.match(String(c.stdin), new RegExp(`^add table inet ${CHAOS_TABLE}\\ndelete table inet ${CHAOS_TABLE}\\n`));
    // The watchdog is started before the rules go in.
    assert.ok(PARTITION_SCRIPT.indexOf('setsid') < PARTITION_SCRIPT.indexOf('nft -f -'));
  });

  it('cut with an id: a table and a watchdog of its own, beside the cuts in force', async () => {
    const plan = await partition.plan({ state: 'cut', id: 'f7-partition-isolate', peers: ['10.99.1.12'], hold_max: 9 }, makeCtx(host('present')));
    const c = plan.commands[0]!;
    if (c.kind !== 'exec') throw new Error('exec expected');
    assert.deepEqual(c.argv.slice(4), ['cut', '9', '/run/unibus-partition-f7_partition_isolate.pid', `${CHAOS_TABLE}_f7_partition_isolate`, '/run/unibus-partition.cgroups']);
    assert.match(String(c.stdin), new RegExp(`^add table inet ${CHAOS_TABLE}_f7_partition_isolate\\n`));
    assert.match(plan.reason, new RegExp(`beside ${CHAOS_TABLE} in force`));
    assert.equal(cutTag('F12 -- Partition.Bridge'), 'f12_partition_bridge');
    await assert.rejects(partition.plan({ state: 'cut', id: '--', peers: ['10.99.1.12'] }, makeCtx(host('absent'))), /id.*expected letters or digits/);
  });

  it('healed: deletes the table when it is there; otherwise only clears a watchdog (no change)', async () => {
    const on = await partition.plan({ state: 'healed' }, makeCtx(host('present')));
    assert.equal(on.changed, true);
    assert.match(on.reason, /partition removed: unibus_chaos \(ip saddr \{ 10\.99\.1\.12 \} drop; ip daddr/);
    // With an id, only that cut: another table in force is not a change of this one.
    const one = await partition.plan({ state: 'healed', id: 'f2-x' }, makeCtx(host('present')));
    assert.equal(one.changed, false);
    const c = one.commands[0]!;
    if (c.kind !== 'exec') throw new Error('exec expected');
    assert.deepEqual(c.argv.slice(4), ['healed', '/run/unibus-partition', CHAOS_TABLE, '/run/unibus-partition.cgroups', 'f2_x']);
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
      assert.deepEqual(c.argv.slice(3), ['unibus-partition', 'cut', '5', `${DIR}/chaos-partition.pid`, table, `${DIR}/chaos-partition.cgroups`, `${mount}/${cgroup}`, '127.0.0.12,127.0.0.13', '101', '202']);
      assert.match(String(c.stdin), new RegExp(`socket cgroupv2 level 1 "${path}" ip daddr \\{ 127\\.0\\.0\\.12, 127\\.0\\.0\\.13 \\} drop`));
      assert.doesNotMatch(String(c.stdin), /saddr|hook input/, 'output only: the peers cut their own side');
    }
    const outside = await partition.plan({ state: 'cut', peers: ['127.0.0.12'], state_dir: DIR }, makeCtx(host('absent', '/cgroup2')));
    assert.match(outside.reason, /cgroup v2 is mounted at \/cgroup2, outside \/sys\/fs\/cgroup/);
  });

  it('enforced: a process started since a cut by cgroup is moved in and its connections to the cut peers reset; nothing to do without such a cut or when all are inside', async () => {
    const { table, cgroup } = sharedNames(DIR);
    const cut = { [`${table}_f3_partition_isolate`]: [`socket cgroupv2 level 1 "${cgroup}" ip daddr { 127.0.0.12, 127.0.0.13 } drop`], [`${table}_f5_partition_bridge`]: [`socket cgroupv2 level 1 "${cgroup}" ip daddr { 127.0.0.13 } drop`] };
    const plan = await partition.plan({ state: 'enforced', state_dir: DIR }, makeCtx(host('present', '/sys/fs/cgroup', cut, [202])));
    assert.equal(plan.changed, true);
    const c = plan.commands[0]!;
    if (c.kind !== 'exec') throw new Error('exec expected');
    assert.deepEqual(c.argv.slice(4), ['enforced', `${DIR}/chaos-partition.cgroups`, `/sys/fs/cgroup/${cgroup}`, '127.0.0.12,127.0.0.13', '101', '202']);
    assert.match(plan.reason, /started since the cut: 101 cut off from 127\.0\.0\.12, 127\.0\.0\.13/);
    const inside = await partition.plan({ state: 'enforced', state_dir: DIR }, makeCtx(host('present', '/sys/fs/cgroup', cut, [101, 202])));
    assert.deepEqual([inside.changed, inside.commands.length], [false, 0]);
    // nft lists a set of one address without braces.
    const one = await partition.plan({ state: 'enforced', state_dir: DIR }, makeCtx(host('present', '/sys/fs/cgroup', { [`${table}_f8_partition_isolate`]: [`socket cgroupv2 level 1 "${cgroup}" ip daddr 127.0.0.12 drop`] }, [202])));
    const oc = one.commands[0]!;
    if (oc.kind !== 'exec') throw new Error('exec expected');
    assert.equal(oc.argv[7], '127.0.0.12');
    assert.deepEqual(rulePeers(['ip saddr { 10.99.1.12, fd00::2 } drop', 'ip6 daddr fd00::3 drop', 'socket cgroupv2 level 1 "unibus-chaos-1" ip daddr 127.0.0.13 drop']), ['10.99.1.12', 'fd00::2', 'fd00::3', '127.0.0.13']);
    const none = await partition.plan({ state: 'enforced', state_dir: DIR }, makeCtx(host('absent')));
    assert.deepEqual([none.changed, none.commands.length, none.reason], [false, 0, 'no partition by cgroup in force']);
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

// The script itself, run as root: nft in a network namespace of its own (unshare --net), so no rule reaches this machine's.
const root = nft && process.getuid?.() === 0;
describe('the partition script, for real', { skip: !root && 'needs root, nft and unshare (scripts/setup-tests.sh installs them)' }, () => {
  // `$SCRIPT` is the partition script.
  const run = (shell: string) => spawnSync('unshare', ['--net', 'sh', '-c', shell], { encoding: 'utf8', env: { ...process.env, SCRIPT: PARTITION_SCRIPT } });
  // One namespace lives for one driver run: the steps go in one shell, each printing the tables left after it.
  const DRIVER = [
    'dir=$(mktemp -d); trap "rm -rf $dir" EXIT',
    'tables() { echo "tables: $(nft list tables inet | while read -r _ _ t; do echo $t; done | sort | tr "\\n" " ")"; }',
    'printf "add table inet x\\ndelete table inet x\\ntable inet unibus_chaos_a {\\n chain input {\\n  type filter hook input priority -10; policy accept;\\n  ip saddr { 10.99.1.12 } drop\\n }\\n}\\n" > $dir/a',
    'sed "s/unibus_chaos_a/unibus_chaos_b/; s/10.99.1.12/10.99.1.13/" $dir/a > $dir/b',
    'sh -c "$SCRIPT" p cut 30 $dir/wd-a.pid unibus_chaos_a $dir/rec < $dir/a >/dev/null; tables',
    'sh -c "$SCRIPT" p cut 1 $dir/wd-b.pid unibus_chaos_b $dir/rec < $dir/b >/dev/null; tables',
    // b's watchdog deletes b alone.
    'sleep 2; tables',
    'sh -c "$SCRIPT" p cut 30 $dir/wd-b.pid unibus_chaos_b $dir/rec < $dir/b >/dev/null; tables',
    'sh -c "$SCRIPT" p healed $dir/wd unibus_chaos $dir/rec a; tables',
    'sh -c "$SCRIPT" p cut 30 $dir/wd-a.pid unibus_chaos_a $dir/rec < $dir/a >/dev/null; tables',
    'sh -c "$SCRIPT" p healed $dir/wd unibus_chaos $dir/rec ""; tables',
    'ls $dir',
  ].join('\n');

  it('cuts compose: each its own table, each watchdog deletes its own, healing one leaves the other, healing all leaves none', () => {
    const r = run(DRIVER);
    assert.equal(r.status, 0, r.stderr);
    const steps = r.stdout.split('\n').filter((l) => l.startsWith('tables:')).map((l) => l.slice(8).trim());
    assert.deepEqual(steps, ['unibus_chaos_a', 'unibus_chaos_a unibus_chaos_b', 'unibus_chaos_a', 'unibus_chaos_a unibus_chaos_b', 'unibus_chaos_b', 'unibus_chaos_a unibus_chaos_b', '']);
    assert.match(r.stdout, /partition unibus_chaos_a removed\nstill in force: unibus_chaos_b/);
    assert.match(r.stdout, /watchdog pid \d+ cancelled/);
    // Every watchdog record is gone with its cut (the last line lists the folder).
    assert.doesNotMatch(r.stdout.trim().split('\n').at(-1)!, /wd-/);
  });

  const cg2 = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
  it("enforced moves a process started since the cut into the node's cgroup; healing the last cut puts it back and removes the cgroup", { skip: !cg2 && 'no cgroup v2 mounted' }, async () => {
    const cg = `${cg2}/unibus-chaos-test-${process.pid}`;
    const dir = mkdtempSync(join(tmpdir(), 'unibus-partition-'));
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const where = () => readFileSync(`/proc/${child.pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    try {
      const before = where();
      const e = run(`sh -c "$SCRIPT" p enforced ${dir}/rec ${cg} 127.0.0.99 ${child.pid}`);
      assert.equal(e.status, 0, e.stderr);
      assert.equal(where(), `0::/${cg.slice(cg2!.length + 1)}`);
      assert.match(e.stdout, new RegExp(`pids ${child.pid} moved into ${cg}`));
      const h = run(`sh -c "$SCRIPT" p healed ${dir}/wd unibus_chaos_none_${process.pid} ${dir}/rec "" ${cg}`);
      assert.equal(h.status, 0, h.stderr);
      assert.equal(where(), before);
      assert.equal(existsSync(cg), false, 'cgroup removed');
      assert.equal(existsSync(`${dir}/rec`), false, 'record removed');
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      if (existsSync(cg)) rmdirSync(cg);
    }
  });
});
