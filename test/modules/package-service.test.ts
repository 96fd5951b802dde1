import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getModule } from '../../src/modules/index.js';
import { pinMatches } from '../../src/modules/package.js';
import { describeCommand } from '../../src/modules/print.js';
import { PKG_SCRIPT } from '../../src/modules/facts/package.js';
import { PROC_FACT_SCRIPT } from '../../src/modules/facts/process.js';
import type { Command } from '../../src/modules/types.js';
import type { ExecRequest } from '../../src/transport/types.js';
import { fakeHost, makeCtx } from './helpers.js';
import { userSystemctl } from '../../src/modules/facts/systemd.js';

const APT = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-q', '-y', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold'];
const argvs = (cmds: Command[]) => cmds.map((c) => (c.kind === 'exec' ? c.argv : ['upload', c.path]));

/** A fake whose dpkg facts come from a table: name -> [status-abbrev, version, min-ok, candidate, offered (a pin's)]. */
function pkgHost(table: Record<string, [string, string, string, string, string?]>) {
  const t = fakeHost();
  t.on(
    (req: ExecRequest) => req.argv[2] === PKG_SCRIPT,
    (req) => ({
      code: 0,
      stderr: '',
      stdout: req.argv.slice(5).map((spec) => {
        const name = spec.split(/>?=/)[0]!;
        const [st, ver, ok, cand, offered] = table[name] ?? ['un ', '', spec.includes('>=') ? 'no' : '-', '(none)', ''];
        const pinned = !spec.includes('>=') && spec.includes('=');
        return `${name}|${st}|${ver}|${ok}|${cand}|${pinned ? (offered ?? '') : '-'}\n`;
      }).join(''),
    }),
  );
  return t;
}

describe('package', () => {
  const pkg = getModule('package');
  it('up to date when installed and the minimum version holds', async () => {
    const t = pkgHost({ nodejs: ['ii ', '20.19.2+dfsg-1', 'yes', '-'], 'nats-server': ['ii ', '2.10.27-1', '-', '-'] });
    const plan = await pkg.plan({ name: ['nodejs>=20.19', 'nats-server'], update_cache: true }, makeCtx(t));
    assert.equal(plan.changed, false);
    assert.equal(plan.reason, 'up to date');
    assert.deepEqual(plan.commands, []);
    assert.equal(t.calls.length, 1, 'one fact exec for the whole task');
    const req = t.calls[0]!.op === 'exec' ? t.calls[0]!.req : undefined;
    assert.deepEqual(req?.argv.slice(4), ['0', 'nodejs>=20.19', 'nats-server']);
  });
  it('installs what is missing or too old, updates the cache first, then checks the minimum', async () => {
    const t = pkgHost({ nodejs: ['ii ', '18.19.0', 'no', '-'], curl: ['ii ', '7.88', '-', '-'] });
    const plan = await pkg.plan({ name: ['nodejs>=20.19', 'curl', 'nats-server'], update_cache: true }, makeCtx(t));
    assert.equal(plan.changed, true);
    assert.equal(plan.reason, 'nodejs 18.19.0 < 20.19, nats-server missing');
    const a = argvs(plan.commands);
    assert.deepEqual(a[0], [...APT, 'update']);
    assert.deepEqual(a[1], [...APT, 'install', 'nodejs', 'nats-server']);
    assert.deepEqual(a[2]!.slice(3), ['unibus-pkg-min', 'nodejs', '20.19']);
    assert.equal(plan.commands.length, 3);
  });
  it('a config-files-only package counts as absent', async () => {
    const t = pkgHost({ curl: ['rc ', '7.88', '-', '-'] });
    const plan = await pkg.plan({ name: 'curl' }, makeCtx(t));
    assert.deepEqual(argvs(plan.commands), [[...APT, 'install', 'curl']]);
  });
  it('absent removes installed packages only', async () => {
    const t = pkgHost({ curl: ['ii ', '7.88', '-', '-'] });
    const plan = await pkg.plan({ name: ['curl', 'wget'], state: 'absent' }, makeCtx(t));
    assert.deepEqual(argvs(plan.commands), [[...APT, 'remove', 'curl']]);
    const none = await pkg.plan({ name: ['wget'], state: 'absent' }, makeCtx(t));
    assert.equal(none.changed, false);
  });
  it('latest upgrades when the candidate differs', async () => {
    const t = pkgHost({ curl: ['ii ', '7.88', '-', '7.89'], jq: ['ii ', '1.6', '-', '1.6'] });
    const plan = await pkg.plan({ name: ['curl', 'jq'], state: 'latest' }, makeCtx(t));
    assert.deepEqual(argvs(plan.commands), [[...APT, 'install', 'curl']]);
    assert.equal(plan.reason, 'curl 7.88 -> 7.89');
  });
  it("a pinned version as Ansible's apt takes one: left alone when installed, else the newest offered match installed as name=version", async () => {
    const offered = '2.15.1-1,2.10.27-1+b2,';
    const keep = await pkg.plan({ name: 'nats-server=2.10.27-*' }, makeCtx(pkgHost({ 'nats-server': ['ii ', '2.10.27-1+b2', '-', '-', offered] })));
    assert.equal(keep.changed, false);
    const t = pkgHost({ 'nats-server': ['un ', '', '-', '-', offered] });
    const fresh = await pkg.plan({ name: ['nodejs', 'nats-server=2.10.27-*'] }, makeCtx(pkgHost({ nodejs: ['ii ', '20.19.2', '-', '-'], 'nats-server': ['un ', '', '-', '-', offered] })));
    assert.deepEqual(argvs(fresh.commands), [[...APT, 'install', 'nats-server=2.10.27-1+b2']]);
    assert.equal(fresh.reason, 'nats-server missing -> 2.10.27-1+b2');
    const other = await pkg.plan({ name: 'nats-server=2.15.1-1' }, makeCtx(pkgHost({ 'nats-server': ['ii ', '2.10.27-1+b2', '-', '-', offered] })));
    assert.deepEqual(argvs(other.commands), [[...APT, 'install', 'nats-server=2.15.1-1']]);
    const none = await pkg.plan({ name: 'nats-server=2.12.*' }, makeCtx(t));
    assert.equal(none.failed, true);
    assert.equal(none.reason, 'no version of nats-server matches 2.12.* (apt offers 2.15.1-1, 2.10.27-1+b2)');
    const req = t.calls[0]!.op === 'exec' ? t.calls[0]!.req : undefined;
    assert.deepEqual(req?.argv.slice(4), ['0', 'nats-server=2.12.*'], 'the pin reaches the fact, which lists what apt offers');
    await assert.rejects(pkg.plan({ name: 'nats-server=2.10.27', state: 'latest' }, makeCtx(pkgHost({}))), /a pinned version \(=\) goes with state present only/);
    await assert.rejects(pkg.plan({ name: 'nats-server=' }, makeCtx(pkgHost({}))), /is not a version/);
  });
  it('pinMatches: exact, *, ?, and the dots and pluses of Debian versions taken literally', () => {
    assert.ok(pinMatches('2.10.27-1+b2', '2.10.27-1+b2'));
    assert.ok(pinMatches('2.10.27-1+b2', '2.10.27-*'));
    assert.ok(pinMatches('2.10.27-1', '2.10.2?-1'));
    assert.ok(!pinMatches('2.10.27-1+b2', '2.10.27'));
    assert.ok(!pinMatches('2.10.270-1', '2.10.27-*'));
    assert.ok(!pinMatches('2x10.27-1', '2.10.27-*'), 'a dot is a dot');
  });
  it('rejects a bad name and a version with absent', async () => {
    await assert.rejects(pkg.plan({ name: 'Bad Name' }, makeCtx(pkgHost({}))), /name\[0\]: "Bad Name" is not a Debian package name/);
    await assert.rejects(pkg.plan({ name: 'curl>=1', state: 'absent' }, makeCtx(pkgHost({}))), /minimum version/);
  });
});

function systemdHost(show: Record<string, string>) {
  const t = fakeHost();
  t.on(['systemctl', 'show'], { code: 0, stderr: '', stdout: Object.entries(show).map(([k, v]) => `${k}=${v}\n`).join('') });
  return t;
}

describe('service (systemd)', () => {
  const service = getModule('service');
  const up = { LoadState: 'loaded', ActiveState: 'active', UnitFileState: 'enabled', NeedDaemonReload: 'no' };
  it('up to date when running and enabled', async () => {
    const plan = await service.plan({ name: 'app', state: 'started', enabled: true }, makeCtx(systemdHost(up)));
    assert.equal(plan.changed, false);
    assert.deepEqual(plan.commands, []);
  });
  it('starts and enables a stopped, disabled unit', async () => {
    const plan = await service.plan({ name: 'app', state: 'started', enabled: true }, makeCtx(systemdHost({ ...up, ActiveState: 'inactive', UnitFileState: 'disabled' })));
    assert.equal(plan.changed, true);
    assert.deepEqual(argvs(plan.commands), [
      ['systemctl', 'enable', '--', 'app'],
      ['systemctl', 'start', '--', 'app'],
    ]);
  });
  it('daemon-reloads before restarting when the unit file changed', async () => {
    const plan = await service.plan({ name: 'app', state: 'restarted' }, makeCtx(systemdHost({ ...up, NeedDaemonReload: 'yes' })));
    assert.deepEqual(argvs(plan.commands), [
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'restart', '--', 'app'],
    ]);
    assert.match(plan.reason, /unit file changed/);
  });
  it('a daemon-reload alone runs but is not a change', async () => {
    const plan = await service.plan({ name: 'app', state: 'started' }, makeCtx(systemdHost({ ...up, NeedDaemonReload: 'yes' })));
    assert.equal(plan.changed, false);
    assert.deepEqual(argvs(plan.commands), [['systemctl', 'daemon-reload']]);
  });
  it('a unit systemd does not know yet gets a daemon-reload, enable and start', async () => {
    const plan = await service.plan({ name: 'app', state: 'started', enabled: true }, makeCtx(systemdHost({ LoadState: 'not-found', ActiveState: 'inactive', UnitFileState: '', NeedDaemonReload: 'no' })));
    assert.equal(plan.changed, true);
    assert.deepEqual(argvs(plan.commands).map((a) => a[1]), ['daemon-reload', 'enable', 'start']);
  });
  it('stops a running unit and leaves a stopped one', async () => {
    assert.deepEqual(argvs((await service.plan({ name: 'app', state: 'stopped' }, makeCtx(systemdHost(up)))).commands), [['systemctl', 'stop', '--', 'app']]);
    assert.equal((await service.plan({ name: 'app', state: 'stopped' }, makeCtx(systemdHost({ ...up, ActiveState: 'failed' })))).changed, false);
  });
});

describe('service (systemd, scope user)', () => {
  const service = getModule('service');
  const up = { LoadState: 'loaded', ActiveState: 'active', UnitFileState: 'enabled', NeedDaemonReload: 'no' };
  const userHost = (show: Record<string, string>) => {
    const t = fakeHost();
    t.on(userSystemctl('show'), { code: 0, stderr: '', stdout: Object.entries(show).map(([k, v]) => `${k}=${v}\n`).join('') });
    return t;
  };
  it("reads and drives the user's own manager, never through sudo even for a non-root login", async () => {
    const t = userHost({ LoadState: 'not-found', ActiveState: 'inactive', UnitFileState: '', NeedDaemonReload: 'no' });
    const plan = await service.plan({ name: 'membershipd', state: 'started', enabled: true, scope: 'user' }, makeCtx(t, { become: true }));
    assert.equal(plan.changed, true);
    assert.deepEqual(argvs(plan.commands), [
      userSystemctl('daemon-reload'),
      userSystemctl('enable', '--', 'membershipd'),
      userSystemctl('start', '--', 'membershipd'),
    ]);
    assert.deepEqual(userSystemctl('start').slice(0, 2), ['sh', '-c'], 'through sh, which sets XDG_RUNTIME_DIR when the session has none');
    assert.ok(plan.commands.every((c) => c.kind === 'exec' && !c.sudo), 'no sudo');
    assert.ok(t.calls.every((c) => c.op !== 'exec' || !c.req.sudo), 'the fact read without sudo');
    assert.deepEqual(t.calls.flatMap((c) => (c.op === 'exec' ? [c.req.argv.slice(0, 5)] : [])), [userSystemctl('show')]);
  });
  it('a daemon-reload alone is not a change; up to date is up to date', async () => {
    const reload = await service.plan({ name: 'membershipd', state: 'started', scope: 'user' }, makeCtx(userHost({ ...up, NeedDaemonReload: 'yes' })));
    assert.equal(reload.changed, false);
    assert.deepEqual(argvs(reload.commands), [userSystemctl('daemon-reload')]);
    assert.equal((await service.plan({ name: 'membershipd', state: 'stopped', scope: 'user' }, makeCtx(userHost({ ...up, ActiveState: 'inactive' })))).changed, false);
  });
  it('scope is refused with the process manager', async () => {
    await assert.rejects(service.plan({ name: 'app', state: 'started', manager: 'process', cmd: ['x'], scope: 'user' }, makeCtx(fakeHost())), /scope: is for systemd units/);
  });
});

function procHost(fact: string) {
  const t = fakeHost();
  t.on((req) => req.argv[2] === PROC_FACT_SCRIPT, { code: 0, stderr: '', stdout: fact + '\n' });
  return t;
}
const hex = (argv: string[]) => Buffer.from(argv.map((a) => a + '\0').join('')).toString('hex');

describe('service (process manager)', () => {
  const service = getModule('service');
  const args = { name: 'app', manager: 'process', state: 'started', cmd: ['/usr/bin/app', '--port', '80'], pidfile: '/run/app.pid', log: '/var/log/app.log' };
  it('starts when there is no pidfile, detached, with pidfile and log', async () => {
    const plan = await service.plan(args, makeCtx(procHost('none')));
    assert.equal(plan.changed, true);
    const c = plan.commands[0]!;
    assert.ok(c.kind === 'exec');
    assert.deepEqual(c.argv.slice(3), ['unibus-start', '/run/app.pid', '/var/log/app.log', '', '/usr/bin/app', '--port', '80']);
    assert.match(c.argv[2]!, /setsid nohup "\$@"/);
    assert.equal(describeCommand(c), 'start app: /usr/bin/app --port 80 (pidfile /run/app.pid, log /var/log/app.log)');
  });
  it('is up to date when the pid is alive with the same cmdline (also behind a #! interpreter)', async () => {
    assert.equal((await service.plan(args, makeCtx(procHost(`alive 42 ${hex(args.cmd)}`)))).changed, false);
    const viaNode = await service.plan(args, makeCtx(procHost(`alive 42 ${hex(['node', ...args.cmd])}`)));
    assert.equal(viaNode.changed, false);
    assert.equal(viaNode.reason, 'running (pid 42)');
  });
  it('restarts when the running command differs, and starts over a stale or reused pid', async () => {
    const diff = await service.plan(args, makeCtx(procHost(`alive 42 ${hex(['/usr/bin/app', '--port', '81'])}`)));
    assert.deepEqual(diff.commands.map((c) => (c.kind === 'exec' ? c.argv[3] : '')), ['unibus-stop', 'unibus-start']);
    const stale = await service.plan(args, makeCtx(procHost('dead 42')));
    assert.deepEqual(stale.commands.map((c) => (c.kind === 'exec' ? c.argv[3] : '')), ['unibus-start']);
    const reused = await service.plan({ ...args, state: 'stopped' }, makeCtx(procHost(`alive 42 ${hex(['/bin/bash'])}`)));
    assert.equal(reused.changed, false, 'never signals a pid that is not ours');
  });
  it('stops with TERM then KILL after stop_timeout', async () => {
    const plan = await service.plan({ ...args, state: 'stopped', stop_timeout: 3 }, makeCtx(procHost(`alive 42 ${hex(args.cmd)}`)));
    const c = plan.commands[0]!;
    assert.ok(c.kind === 'exec');
    assert.deepEqual(c.argv.slice(3), ['unibus-stop', '/run/app.pid', '42', '3']);
    assert.equal(c.timeoutMs, 13_000);
  });
  it('needs cmd', async () => {
    await assert.rejects(service.plan({ name: 'app', manager: 'process', state: 'started' }, makeCtx(procHost('none'))), /manager process needs cmd/);
  });
});

describe('wait_for', () => {
  const w = getModule('wait_for');
  it('plans one bounded poll and reports no change', async () => {
    const plan = await w.plan({ port: 4222, timeout: 20 }, makeCtx(fakeHost()));
    assert.equal(plan.changed, false);
    const c = plan.commands[0]!;
    assert.ok(c.kind === 'exec');
    assert.deepEqual(c.argv.slice(3), ['unibus-wait', 'tcp-started', '20', '0', '0.5', '127.0.0.1', '4222']);
    assert.equal(c.timeoutMs, 35_000);
  });
  it('rejects an unbounded timeout and two probes', async () => {
    await assert.rejects(w.plan({ port: 1, timeout: 100000 }, makeCtx(fakeHost())), /timeout: expected seconds between 0 and 600/);
    await assert.rejects(w.plan({ port: 1, path: '/x' }, makeCtx(fakeHost())), /exactly one of port, url and path/);
  });
});
