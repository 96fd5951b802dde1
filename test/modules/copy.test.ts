import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { getModule } from '../../src/modules/index.js';
import { describeCommand, formatFileDiff } from '../../src/modules/print.js';
import { runCommands } from '../../src/modules/run.js';
import { Secret } from '../../src/secret.js';
import { fakeHost, makeCtx, sha256 } from './helpers.js';

const copy = getModule('copy');
const template = getModule('template');

describe('copy', () => {
  it('uploads when dest is absent, with default mode 0644', async () => {
    const t = fakeHost().addDir('/etc');
    const plan = await copy.plan({ dest: '/etc/a.conf', content: 'hello\n' }, makeCtx(t));
    assert.equal(plan.changed, true);
    assert.match(plan.reason, /absent/);
    assert.equal(plan.commands.length, 1);
    const c = plan.commands[0]!;
    assert.equal(c.kind, 'upload');
    assert.ok(c.kind === 'upload');
    assert.equal(c.path, '/etc/a.conf');
    assert.equal(c.mode, 0o644);
    assert.deepEqual(c.content, Buffer.from('hello\n'));
    // plan ran exactly one read-only fact exec and changed nothing
    assert.equal(t.calls.length, 1);
    assert.equal(t.files.has('/etc/a.conf'), false);
  });

  it('is a no-op with a reason when content, mode and owner match', async () => {
    const t = fakeHost().addFile('/etc/a.conf', 'hello\n', { mode: 0o640, owner: 'app', group: 'app' });
    const plan = await copy.plan({ dest: '/etc/a.conf', content: 'hello\n', mode: '0640', owner: 'app', group: 'app' }, makeCtx(t));
    assert.equal(plan.changed, false);
    assert.equal(plan.reason, 'up to date');
    assert.deepEqual(plan.commands, []);
    assert.equal(plan.result?.checksum, sha256('hello\n'));
  });

  it('re-uploads when the checksum differs and keeps the existing mode', async () => {
    const t = fakeHost().addFile('/etc/a.conf', 'old\n', { mode: 0o600 });
    const plan = await copy.plan({ dest: '/etc/a.conf', content: 'new\n' }, makeCtx(t));
    assert.equal(plan.changed, true);
    assert.match(plan.reason, new RegExp(`sha256 ${sha256('old\n').slice(0, 8)} -> ${sha256('new\n').slice(0, 8)}`));
    const c = plan.commands[0]!;
    assert.ok(c.kind === 'upload');
    assert.equal(c.mode, 0o600);
  });

  it('fixes only mode and owner when the content matches', async () => {
    const t = fakeHost().addFile('/etc/a.conf', 'x', { mode: 0o644, owner: 'root', group: 'root' });
    const plan = await copy.plan({ dest: '/etc/a.conf', content: 'x', mode: 640, group: 'app' }, makeCtx(t));
    assert.equal(plan.changed, true);
    assert.deepEqual(
      plan.commands.map((c) => (c.kind === 'exec' ? c.argv : c.kind)),
      [
        ['chmod', '0640', '--', '/etc/a.conf'],
        ['chown', ':app', '--', '/etc/a.conf'],
      ],
    );
    assert.match(plan.reason, /mode 0644 -> 0640/);
  });

  it('fails when dest is a directory', async () => {
    const t = fakeHost().addDir('/etc/d');
    const plan = await copy.plan({ dest: '/etc/d', content: 'x' }, makeCtx(t));
    assert.equal(plan.failed, true);
    assert.deepEqual(plan.commands, []);
  });

  it('rejects both content and src, and relative dest', async () => {
    const t = fakeHost();
    await assert.rejects(copy.plan({ dest: '/a', content: 'x', src: 'y' }, makeCtx(t)), /exactly one of content and src/);
    await assert.rejects(copy.plan({ dest: 'a', content: 'x' }, makeCtx(t)), /dest: "a" is not an absolute path/);
  });

  it('never shows secret content in the plan, the diff or the upload description', async () => {
    const secret = new Secret('s3cr3t-password-value');
    const t = fakeHost().addFile('/etc/pw', 'previous-secret-value', { mode: 0o600 });
    const plan = await copy.plan({ dest: '/etc/pw', content: secret }, makeCtx(t, { diff: true }));
    assert.equal(plan.changed, true);
    const text = [plan.reason, ...plan.commands.map(describeCommand), ...(plan.diff ?? []).map(formatFileDiff), JSON.stringify(plan)].join('\n');
    assert.doesNotMatch(text, /s3cr3t|previous-secret/);
    assert.match(text, new RegExp(`<redacted sha256:${secret.fingerprint()}>`));
    // a secret diff never fetches the old content
    assert.equal(t.calls.filter((c) => c.op === 'get').length, 0);
    // applying writes the real bytes
    await runCommands(t, plan.commands);
    assert.equal(t.files.get('/etc/pw')!.content.toString(), 's3cr3t-password-value');
  });

  it('secret: true makes plain content a secret with mode 0600', async () => {
    const t = fakeHost().addDir('/etc');
    const plan = await copy.plan({ dest: '/etc/k', content: 'PRIVATE KEY', secret: true }, makeCtx(t));
    const c = plan.commands[0]!;
    assert.ok(c.kind === 'upload');
    assert.equal(c.mode, 0o600);
    assert.doesNotMatch(describeCommand(c), /PRIVATE/);
  });

  it('summarises binary content in a diff', async () => {
    const t = fakeHost().addFile('/b', Buffer.from([0, 1, 2]));
    const plan = await copy.plan({ dest: '/b', content: 'text\n' }, makeCtx(t, { diff: true }));
    assert.match(formatFileDiff(plan.diff![0]!), /^-\(binary, 3 bytes, sha256 [0-9a-f]{8}\)$/m);
  });

  it('shows a unified diff of the old and new content with --diff', async () => {
    const t = fakeHost().addFile('/etc/a.conf', 'a\nb\nc\n');
    const plan = await copy.plan({ dest: '/etc/a.conf', content: 'a\nB\nc\n' }, makeCtx(t, { diff: true }));
    const text = formatFileDiff(plan.diff![0]!);
    assert.match(text, /^-b$/m);
    assert.match(text, /^\+B$/m);
  });
});

describe('copy src and template', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unibus-copy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'role', 'templates'), { recursive: true });
  mkdirSync(join(dir, 'play', 'templates'), { recursive: true });
  mkdirSync(join(dir, 'play', 'files'), { recursive: true });
  writeFileSync(join(dir, 'role', 'templates', 'x.j2'), 'role {{ v }}');
  writeFileSync(join(dir, 'play', 'templates', 'x.j2'), 'play {{ v }}');
  writeFileSync(join(dir, 'play', 'templates', 'y.j2'), 'only play');
  writeFileSync(join(dir, 'play', 'files', 'blob'), Buffer.from([0, 1, 2, 255]));

  it('copy src is read from <base>/files', async () => {
    const t = fakeHost();
    const plan = await copy.plan({ dest: '/b', src: 'blob' }, makeCtx(t, { baseDirs: [join(dir, 'play')] }));
    const c = plan.commands[0]!;
    assert.ok(c.kind === 'upload');
    assert.deepEqual(c.content, Buffer.from([0, 1, 2, 255]));
  });

  it('template renders the role template before the playbook one, then acts as copy', async () => {
    const seen: string[] = [];
    const render = (s: { file?: string }, vars: Record<string, unknown>) => {
      seen.push(s.file!);
      return `rendered ${String(vars.v)}`;
    };
    const t = fakeHost().addFile('/etc/x', 'rendered 1');
    const ctx = makeCtx(t, { baseDirs: [join(dir, 'role'), join(dir, 'play')], render, vars: { v: 1 } });
    const plan = await template.plan({ src: 'x.j2', dest: '/etc/x' }, ctx);
    assert.deepEqual(seen, [join(dir, 'role', 'templates', 'x.j2')]);
    assert.equal(plan.changed, false);
    await template.plan({ src: 'y.j2', dest: '/etc/y' }, ctx);
    assert.equal(seen[1], join(dir, 'play', 'templates', 'y.j2'));
    await assert.rejects(template.plan({ src: 'nope.j2', dest: '/etc/y' }, ctx), /nope\.j2 not found \(looked in/);
  });
});
