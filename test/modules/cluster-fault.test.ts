// cluster_fault on the recording fake (the argv of kill/freeze/thaw, refusal
// of a pid file whose process is not this node's) and its two scripts run for
// real against a throwaway process that carries a state folder's marker.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FAULT_FACT_SCRIPT, FAULT_SIGNAL_SCRIPT, parseFaultFacts, thawPidFile } from '../../src/modules/cluster/fault.js';
import { getModule } from '../../src/modules/index.js';
import type { Command } from '../../src/modules/types.js';
import { FakeTransport } from '../harness/fake-transport.js';
import { makeCtx } from './helpers.js';
import { sleep } from '../../src/util/time.js';

const DIR = '/srv/unibus/n1';
const hex = (argv: string[]) => Buffer.from(argv.join('\0') + '\0').toString('hex');
const MEMBERSHIPD = ['/usr/bin/node', `${DIR}/app/membershipd.mjs`];
const NATS = ['/usr/local/bin/nats-server', '-c', `${DIR}/nats.conf`];

/** A host whose fact script answers from a table: target -> [pid, state, argv] or null (no pid). */
function host(table: Partial<Record<'membershipd' | 'nats', [number, string, string[]] | null>>) {
  const t = new FakeTransport('n1');
  t.on((req) => req.argv[2] === FAULT_FACT_SCRIPT, (req) => ({
    code: 0,
    stderr: '',
    stdout: req.argv.slice(7).map((target) => {
      const e = table[target as 'nats'];
      return e ? `${target} ${e[0]} ${e[1]} ${hex(e[2])}\n` : `${target} none\n`;
    }).join(''),
  }));
  return t;
}
const fault = getModule('cluster_fault');
const execOf = (c: Command) => (c.kind === 'exec' ? c.argv : []);

describe('cluster_fault on the fake', () => {
  it('kill: SIGKILL membershipd first, then nats-server, each with the argument that proves it ours', async () => {
    const t = host({ membershipd: [101, 'S', MEMBERSHIPD], nats: [202, 'S', NATS] });
    const plan = await fault.plan({ action: 'kill', state_dir: DIR }, makeCtx(t));
    assert.equal(plan.changed, true);
    assert.equal(plan.commands.length, 1);
    assert.deepEqual(execOf(plan.commands[0]!), ['sh', '-c', FAULT_SIGNAL_SCRIPT, 'unibus-fault', 'kill', 'KILL', '60', `${DIR}/${thawPidFile('membershipd')}`, '101', `${DIR}/app/membershipd.mjs`, '202', `${DIR}/nats.conf`]);
    // Planning only read facts: one exec, the fact script, with the targets in kill order.
    assert.deepEqual(t.execArgvs().map((a) => a.slice(3)), [['unibus-fault-facts', DIR, 'process', 'membershipd', 'membershipd', 'nats']]);
  });

  it('freeze: SIGSTOP nats-server only, with the watchdog bound; thaw: SIGCONT only what is stopped', async () => {
    const t = host({ nats: [202, 'S', NATS] });
    const plan = await fault.plan({ action: 'freeze', state_dir: DIR, hold_max: 30 }, makeCtx(t));
    assert.deepEqual(execOf(plan.commands[0]!).slice(3), ['unibus-fault', 'freeze', 'STOP', '30', `${DIR}/${thawPidFile('nats')}`, '202', `${DIR}/nats.conf`]);
    assert.match(plan.commands[0]!.kind === 'exec' ? plan.commands[0]!.label! : '', /SIGSTOP nats-server pid 202 \(SIGCONT by a watchdog after 30 s/);
    const frozen = host({ nats: [202, 'T', NATS] });
    const thaw = await fault.plan({ action: 'thaw', state_dir: DIR }, makeCtx(frozen));
    assert.equal(thaw.changed, true);
    assert.deepEqual(execOf(thaw.commands[0]!).slice(3), ['unibus-fault', 'thaw', 'CONT', '60', `${DIR}/${thawPidFile('nats')}`, '202', `${DIR}/nats.conf`]);
    const again = await fault.plan({ action: 'freeze', state_dir: DIR }, makeCtx(frozen));
    assert.equal(again.changed, false, 'already stopped');
    // Both frozen: one watchdog each, so that a later freeze or thaw of one leaves the other's armed.
    const both = await fault.plan({ action: 'freeze', targets: ['membershipd', 'nats'], state_dir: DIR, hold_max: 30 }, makeCtx(host({ membershipd: [101, 'S', MEMBERSHIPD], nats: [202, 'S', NATS] })));
    assert.deepEqual(both.commands.map((c) => execOf(c).slice(7)), [[`${DIR}/${thawPidFile('membershipd')}`, '101', `${DIR}/app/membershipd.mjs`], [`${DIR}/${thawPidFile('nats')}`, '202', `${DIR}/nats.conf`]]);
    // membershipd already frozen by an earlier pause: only nats-server is frozen now, and membershipd's watchdog is not touched.
    const later = await fault.plan({ action: 'freeze', targets: ['membershipd', 'nats'], state_dir: DIR, hold_max: 30 }, makeCtx(host({ membershipd: [101, 'T', MEMBERSHIPD], nats: [202, 'S', NATS] })));
    assert.deepEqual(later.commands.map((c) => execOf(c).slice(7)), [[`${DIR}/${thawPidFile('nats')}`, '202', `${DIR}/nats.conf`]]);
    // Thawing a running node changes nothing; it only clears a watchdog that may be left.
    const running = await fault.plan({ action: 'thaw', state_dir: DIR }, makeCtx(t));
    assert.equal(running.changed, false);
    assert.deepEqual(execOf(running.commands[0]!).slice(3), ['unibus-fault', 'thaw', 'CONT', '60', `${DIR}/${thawPidFile('nats')}`]);
  });

  it('refuses a pid whose process is not this node\'s program, and signals nothing', async () => {
    for (const [table, what] of [
      [{ membershipd: [101, 'S', ['/usr/bin/vim', '/etc/passwd']], nats: [202, 'S', NATS] }, /pid 101 \(membershipd\) runs "\/usr\/bin\/vim \/etc\/passwd", not this node's \/srv\/unibus\/n1\/app\/membershipd.mjs/],
      [{ membershipd: [101, 'S', MEMBERSHIPD], nats: [202, 'S', ['/usr/local/bin/nats-server', '-c', '/srv/unibus/n2/nats.conf']] }, /pid 202 \(nats\) runs .*n2\/nats.conf.*not this node's \/srv\/unibus\/n1\/nats.conf/],
      [{ nats: [202, 'S', ['/usr/bin/cat', '-c', `${DIR}/nats.conf`]] }, /pid 202 \(nats\)/],
    ] as const) {
      const t = host(table as never);
      const plan = await fault.plan({ action: 'kill', state_dir: DIR }, makeCtx(t));
      assert.equal(plan.failed, true);
      assert.match(plan.reason, /^refused: /);
      assert.match(plan.reason, what);
      assert.deepEqual(plan.commands, []);
    }
  });

  it('kill of a node that is down is a no-op; freeze of one is a failure', async () => {
    const t = host({});
    const kill = await fault.plan({ action: 'kill', state_dir: DIR }, makeCtx(t));
    assert.deepEqual([kill.changed, kill.failed, kill.commands.length], [false, undefined, 0]);
    const freeze = await fault.plan({ action: 'freeze', state_dir: DIR }, makeCtx(t));
    assert.equal(freeze.failed, true);
    assert.match(freeze.reason, /cannot freeze: nats not running/);
  });

  it('systemd: membershipd is read from the unit\'s MainPID; bad arguments are named', async () => {
    const t = host({ membershipd: [101, 'S', MEMBERSHIPD] });
    await fault.plan({ action: 'kill', targets: ['membershipd'], state_dir: DIR, manager: 'systemd' }, makeCtx(t));
    assert.deepEqual(t.execArgvs()[0]!.slice(4, 7), [DIR, 'systemd', 'membershipd']);
    await assert.rejects(fault.plan({ action: 'kill', state_dir: 'relative/dir' }, makeCtx(t)), /cluster_fault: state_dir: "relative\/dir" is not an absolute path/);
  });
});

describe('cluster_fault scripts, run for real', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unibus-fault-'));
  const started: ChildProcess[] = [];
  after(() => {
    for (const c of started) if (c.pid && c.exitCode === null) {
      try { process.kill(c.pid, 'SIGCONT'); process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  /** A process whose argv holds `marker` as one argument, as nats-server holds `-c <dir>/nats.conf`. */
  const proc = (marker: string) => {
    const c = spawn('sh', ['-c', 'sleep 30', marker], { stdio: 'ignore' });
    started.push(c);
    return c.pid!;
  };
  const state = (pid: number) => {
    try {
      const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
    } catch {
      return 'gone';
    }
  };
  const sig = (action: string, signal: string, hold: string, ...pairs: string[]) =>
    spawnSync('sh', ['-c', FAULT_SIGNAL_SCRIPT, 'unibus-fault', action, signal, hold, join(dir, thawPidFile(pairs[1]?.endsWith('.mjs') ? 'membershipd' : 'nats')), ...pairs], { encoding: 'utf8', timeout: 20_000 });

  it('the fact script reads the pid files and the command lines', () => {
    const pid = proc(join(dir, 'nats.conf'));
    writeFileSync(join(dir, 'nats-server.pid'), `${pid}\n`);
    const r = spawnSync('sh', ['-c', FAULT_FACT_SCRIPT, 'f', dir, 'process', 'membershipd', 'membershipd', 'nats'], { encoding: 'utf8' });
    const facts = parseFaultFacts(r.stdout)!;
    assert.deepEqual(facts[0], { target: 'membershipd', pid: null, state: null, cmdline: [] });
    assert.equal(facts[1]!.pid, pid);
    assert.deepEqual(facts[1]!.cmdline, ['sh', '-c', 'sleep 30', join(dir, 'nats.conf')]);
  });

  it('freeze stops the process and arms a watchdog; thaw continues it and disarms the watchdog', async () => {
    const marker = join(dir, 'nats.conf');
    const pid = proc(marker);
    const f = sig('freeze', 'STOP', '30', String(pid), marker);
    assert.equal(f.status, 0, f.stderr);
    assert.equal(state(pid), 'T');
    const wd = Number(readFileSync(join(dir, thawPidFile('nats')), 'utf8'));
    assert.match(readFileSync(`/proc/${wd}/cmdline`, 'utf8'), /unibus-thaw/);
    const t = sig('thaw', 'CONT', '30', String(pid), marker);
    assert.equal(t.status, 0, t.stderr);
    assert.notEqual(state(pid), 'T');
    assert.ok(!existsSync(join(dir, thawPidFile('nats'))));
    for (let i = 0; i < 20 && state(wd) !== 'gone' && state(wd) !== 'Z'; i++) await sleep(50);
    assert.ok(['gone', 'Z'].includes(state(wd)), 'the watchdog is cancelled');
  });

  it("a freeze of nats-server leaves the watchdog of a membershipd frozen before it: each is thawed by its own", async () => {
    const m = join(dir, 'app', 'membershipd.mjs');
    const n = join(dir, 'nats.conf');
    const mp = proc(m);
    const np = proc(n);
    assert.equal(sig('freeze', 'STOP', '30', String(mp), m).status, 0);
    const mwd = Number(readFileSync(join(dir, thawPidFile('membershipd')), 'utf8'));
    assert.equal(sig('freeze', 'STOP', '1', String(np), n).status, 0);
    assert.match(readFileSync(`/proc/${mwd}/cmdline`, 'utf8'), /unibus-thaw/, "membershipd's watchdog still armed");
    for (let i = 0; i < 60 && state(np) === 'T'; i++) await sleep(100);
    assert.notEqual(state(np), 'T', 'nats-server continued by its own watchdog');
    assert.equal(state(mp), 'T', 'membershipd stays frozen until its own hold ends');
    assert.equal(sig('thaw', 'CONT', '30', String(mp), m).status, 0);
    assert.notEqual(state(mp), 'T');
  });

  it('the watchdog thaws a frozen process by itself when no thaw comes', async () => {
    const marker = join(dir, 'nats.conf');
    const pid = proc(marker);
    assert.equal(sig('freeze', 'STOP', '1', String(pid), marker).status, 0);
    assert.equal(state(pid), 'T');
    for (let i = 0; i < 60 && state(pid) === 'T'; i++) await sleep(100);
    assert.notEqual(state(pid), 'T', 'continued by the watchdog');
  });

  it('freeze refuses (exit 3) a pid that no longer carries the marker, and leaves it alone', () => {
    const pid = proc(join(dir, 'other.conf'));
    const r = sig('freeze', 'STOP', '60', String(pid), join(dir, 'nats.conf'));
    assert.equal(r.status, 3);
    assert.match(r.stderr, /refused: pid \d+ no longer runs/);
    assert.equal(state(pid), 'S');
  });

  it('kill takes a pid that runs something else now as reused (ours is gone) and leaves that process alone', () => {
    const pid = proc(join(dir, 'other.conf'));
    const r = sig('kill', 'KILL', '60', String(pid), join(dir, 'nats.conf'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /pid \d+ gone \(now runs something else: not signalled\)/);
    assert.equal(state(pid), 'S');
  });

  it('kill signals and waits until the process is gone', () => {
    const marker = join(dir, 'app', 'membershipd.mjs');
    const pid = proc(marker);
    const r = sig('kill', 'KILL', '60', String(pid), marker);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(['gone', 'Z'].includes(state(pid)));
  });
});
