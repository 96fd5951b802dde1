import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getModule, moduleNames, UnknownModuleError } from '../../src/modules/index.js';
import { describeCommand } from '../../src/modules/print.js';
import { Secret } from '../../src/secret.js';
import { fakeHost, makeCtx } from './helpers.js';

const argvs = (cmds: { kind: string; argv?: string[] }[]) => cmds.map((c) => c.argv ?? c.kind);

describe('file', () => {
  const file = getModule('file');
  it('creates a missing directory with mode and owner', async () => {
    const t = fakeHost();
    const plan = await file.plan({ path: '/opt/app', state: 'directory', mode: '0750', owner: 'app', group: 'app' }, makeCtx(t));
    assert.equal(plan.changed, true);
    assert.deepEqual(argvs(plan.commands), [
      ['mkdir', '-p', '--', '/opt/app'],
      ['chmod', '0750', '--', '/opt/app'],
      ['chown', 'app:app', '--', '/opt/app'],
    ]);
  });
  it('is a no-op on a matching directory', async () => {
    const t = fakeHost().addDir('/opt/app', { mode: 0o750, owner: 'app', group: 'app' });
    const plan = await file.plan({ path: '/opt/app', state: 'directory', mode: '0750', owner: 'app' }, makeCtx(t));
    assert.equal(plan.changed, false);
    assert.equal(plan.reason, 'up to date');
    assert.deepEqual(plan.commands, []);
  });
  it('changes only the mode that differs', async () => {
    const t = fakeHost().addDir('/opt/app', { mode: 0o755, owner: 'app', group: 'app' });
    const plan = await file.plan({ path: '/opt/app', state: 'directory', mode: '0700', owner: 'app' }, makeCtx(t));
    assert.deepEqual(argvs(plan.commands), [['chmod', '0700', '--', '/opt/app']]);
    assert.equal(plan.reason, 'mode 0755 -> 0700');
  });
  it('changes only the owner that differs', async () => {
    const t = fakeHost().addFile('/etc/f', 'x', { owner: 'root', group: 'root' });
    const plan = await file.plan({ path: '/etc/f', owner: 'app' }, makeCtx(t));
    assert.deepEqual(argvs(plan.commands), [['chown', 'app', '--', '/etc/f']]);
  });
  it('absent removes what exists and is a no-op otherwise', async () => {
    const t = fakeHost().addDir('/opt/old');
    assert.deepEqual(argvs((await file.plan({ path: '/opt/old', state: 'absent' }, makeCtx(t))).commands), [['rm', '-rf', '--', '/opt/old']]);
    const p2 = await file.plan({ path: '/opt/none', state: 'absent' }, makeCtx(t));
    assert.equal(p2.changed, false);
    assert.equal(p2.reason, 'already absent');
  });
  it('touch creates once, then reports no change', async () => {
    const t = fakeHost();
    assert.deepEqual(argvs((await file.plan({ path: '/var/x', state: 'touch' }, makeCtx(t))).commands), [['touch', '--', '/var/x']]);
    t.addFile('/var/x', '');
    assert.equal((await file.plan({ path: '/var/x', state: 'touch' }, makeCtx(t))).changed, false);
  });
  it('fails on a type clash and on state file of a missing path', async () => {
    const t = fakeHost().addFile('/opt/app', 'x');
    assert.equal((await file.plan({ path: '/opt/app', state: 'directory' }, makeCtx(t))).failed, true);
    assert.equal((await file.plan({ path: '/nope', state: 'file' }, makeCtx(t))).failed, true);
  });
  it('rejects a bad mode with the field named', async () => {
    await assert.rejects(file.plan({ path: '/x', mode: '0999' }, makeCtx(fakeHost())), /file: mode: "0999" is not a file mode/);
  });
  it('passes sudo when become is set', async () => {
    const t = fakeHost();
    const plan = await file.plan({ path: '/opt/a', state: 'directory' }, makeCtx(t, { become: true }));
    assert.equal(plan.commands[0]!.sudo, true);
    assert.equal(t.calls[0]!.op === 'exec' && t.calls[0]!.req.sudo, true);
  });
});

describe('command and shell', () => {
  const command = getModule('command');
  const shell = getModule('shell');
  it('command splits a free-form cmd without a shell', async () => {
    const plan = await command.plan({ cmd: `echo "a b" 'c'` }, makeCtx(fakeHost()));
    assert.equal(plan.changed, true);
    assert.deepEqual(argvs(plan.commands), [['echo', 'a b', 'c']]);
  });
  it('command takes argv, chdir and a timeout', async () => {
    const plan = await command.plan({ argv: ['ls', '-l'], chdir: '/opt', timeout: 5 }, makeCtx(fakeHost()));
    const c = plan.commands[0]!;
    assert.ok(c.kind === 'exec');
    assert.equal(c.cwd, '/opt');
    assert.equal(c.timeoutMs, 5000);
  });
  it('creates skips when the path exists and runs when it does not', async () => {
    const t = fakeHost().addFile('/opt/done', '');
    const skip = await command.plan({ argv: ['init'], creates: '/opt/done' }, makeCtx(t));
    assert.equal(skip.changed, false);
    assert.match(skip.reason, /\/opt\/done exists/);
    assert.deepEqual(skip.commands, []);
    const run = await command.plan({ argv: ['init'], creates: '/opt/other' }, makeCtx(t));
    assert.deepEqual(argvs(run.commands), [['init']]);
  });
  it('removes skips when the path is absent', async () => {
    const t = fakeHost();
    const skip = await shell.plan({ cmd: 'rm -f /tmp/x*', removes: '/tmp/x1' }, makeCtx(t));
    assert.equal(skip.changed, false);
    t.addFile('/tmp/x1', '');
    const run = await shell.plan({ cmd: 'rm -f /tmp/x*', removes: '/tmp/x1' }, makeCtx(t));
    assert.deepEqual(argvs(run.commands), [['sh', '-c', 'rm -f /tmp/x*']]);
  });
  it('a secret stdin marks the command secret and is never printed', async () => {
    const s = new Secret('hunter2-pass');
    const plan = await command.plan({ argv: ['chpasswd'], stdin: s }, makeCtx(fakeHost()));
    const c = plan.commands[0]!;
    assert.ok(c.kind === 'exec');
    assert.equal(c.secret, true);
    const line = describeCommand(c);
    assert.doesNotMatch(line, /hunter2/);
    assert.match(line, new RegExp(`chpasswd < <redacted sha256:${s.fingerprint()}>`));
  });
  it('rejects both argv and cmd', async () => {
    await assert.rejects(command.plan({ argv: ['a'], cmd: 'a' }, makeCtx(fakeHost())), /exactly one of argv/);
    await assert.rejects(command.plan({ cmd: 'a "b' }, makeCtx(fakeHost())), /unterminated double quote/);
  });
});

describe('assert, set_fact and the registry', () => {
  it('assert passes booleans and evaluates strings with ctx.evaluate', async () => {
    const a = getModule('assert');
    const ctx = makeCtx(fakeHost(), { vars: { n: 3 }, evaluate: (e, v) => e === 'n > 2' && (v.n as number) > 2 });
    assert.equal((await a.plan({ that: [true, 'n > 2'] }, ctx)).failed, undefined);
    const bad = await a.plan({ that: ['n > 2', 'other'], fail_msg: 'too small' }, ctx);
    assert.equal(bad.failed, true);
    assert.equal(bad.reason, 'too small');
    assert.equal((await a.plan({ that: false }, ctx)).failed, true);
  });
  it('set_fact returns facts and touches nothing', async () => {
    const t = fakeHost();
    const plan = await getModule('set_fact').plan({ a: 1, b: 'x' }, makeCtx(t));
    assert.deepEqual(plan.facts, { a: 1, b: 'x' });
    assert.equal(plan.changed, false);
    assert.equal(t.calls.length, 0);
  });
  it('getModule names the known modules when asked for an unknown one', () => {
    assert.throws(() => getModule('copyy'), (e: unknown) => e instanceof UnknownModuleError && /expected one of .*copy/.test(e.message));
    for (const n of ['copy', 'template', 'file', 'command', 'shell', 'assert', 'set_fact']) assert.ok(moduleNames.includes(n));
  });
});
