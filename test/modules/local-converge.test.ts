import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { getModule } from '../../src/modules/index.js';
import { runCommands } from '../../src/modules/run.js';
import type { ModuleContext } from '../../src/modules/types.js';
import { LocalTransport } from '../../src/transport/local.js';
import { DirectReader } from '../../src/modules/facts/read.js';

// The fact scripts for real: plan on this machine, apply, plan again -> nothing to do.
const dir = mkdtempSync(join(tmpdir(), 'unibus-converge-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const t = new LocalTransport();
const ctx: ModuleContext = {
  transport: t,
  facts: new DirectReader(t),
  controller: new DirectReader(t),
  vars: {},
  check: false,
  baseDirs: [],
  render: () => '',
  host: 'controller',
  diff: true,
};

async function converge(mod: string, args: Record<string, unknown>) {
  const m = getModule(mod);
  const first = await m.plan(args, ctx);
  const out = await runCommands(t, first.commands);
  assert.equal(out.error, undefined, out.error?.message);
  const second = await m.plan(args, ctx);
  return { first, second };
}

describe('modules converge on a real host', () => {
  it('file directory then copy with mode; a second plan has nothing to do', async () => {
    const d = join(dir, 'etc', 'app');
    const r1 = await converge('file', { path: d, state: 'directory', mode: '0750' });
    assert.equal(r1.first.changed, true);
    assert.equal(r1.second.changed, false, r1.second.reason);
    assert.equal(statSync(d).mode & 0o7777, 0o750);

    const f = join(d, 'a.conf');
    const r2 = await converge('copy', { dest: f, content: 'x=1\n', mode: '0640' });
    assert.equal(r2.first.changed, true);
    assert.equal(r2.second.changed, false, r2.second.reason);
    assert.equal(readFileSync(f, 'utf8'), 'x=1\n');
    assert.equal(statSync(f).mode & 0o7777, 0o640);
  });

  it('sees a changed checksum and a changed mode made behind its back', async () => {
    const f = join(dir, 'b.conf');
    writeFileSync(f, 'old\n', { mode: 0o600 });
    const r = await converge('copy', { dest: f, content: 'new\n' });
    assert.match(r.first.reason, /content differs/);
    assert.match(r.first.diff?.[0] ? JSON.stringify(r.first.diff[0]) : '', /old/);
    assert.equal(statSync(f).mode & 0o7777, 0o600);
    const m = await converge('copy', { dest: f, content: 'new\n', mode: '0644' });
    assert.equal(m.first.reason, 'mode 0600 -> 0644');
    assert.equal(m.second.changed, false);
  });

  it('handles paths with spaces and quotes', async () => {
    const f = join(dir, "it's a file");
    const r = await converge('copy', { dest: f, content: 'q' });
    assert.equal(r.second.changed, false);
    const a = await converge('file', { path: f, state: 'absent' });
    assert.equal(a.first.changed, true);
    assert.equal(a.second.reason, 'already absent');
  });

  it('command with creates runs once', async () => {
    const marker = join(dir, 'marker');
    const r = await converge('command', { argv: ['touch', marker], creates: marker });
    assert.equal(r.first.changed, true);
    assert.equal(r.second.changed, false);
  });
});
