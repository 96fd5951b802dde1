// cluster_stage reads the files it stages on the controller, through the
// controller's reader, and plans an upload only where a host's copy differs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { getModule } from '../../src/modules/index.js';
import { fakeHost, makeCtx } from './helpers.js';

const stage = getModule('cluster_stage');
const dir = mkdtempSync(join(tmpdir(), 'unibus-stage-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('stages a controller file once; a host copy with its content and mode is left alone; a missing source fails', async () => {
  const src = join(dir, 'ca.pem');
  writeFileSync(src, 'CERT\n');
  const t = fakeHost('n1').addDir('/var/lib/unibus');
  const args = { files: [{ src, dest: '/var/lib/unibus/ca.pem' }] };
  const first = await stage.plan(args, makeCtx(t));
  assert.equal(first.changed, true, first.reason);
  const up = first.commands[0];
  assert.ok(up?.kind === 'upload' && up.path === '/var/lib/unibus/ca.pem' && Buffer.from(up.content as Buffer).toString() === 'CERT\n' && up.mode === 0o644);

  t.addFile('/var/lib/unibus/ca.pem', 'CERT\n', { mode: 0o644 });
  const again = await stage.plan(args, makeCtx(t));
  assert.deepEqual([again.changed, again.reason, again.commands.length], [false, '1 files up to date', 0]);

  writeFileSync(src, 'NEW CERT\n');
  const changed = await stage.plan(args, makeCtx(t));
  assert.equal(changed.changed, true);

  const gone = await stage.plan({ files: [{ src: join(dir, 'absent.pem'), dest: '/var/lib/unibus/x.pem' }] }, makeCtx(t));
  assert.deepEqual([gone.failed, gone.reason], [true, `${join(dir, 'absent.pem')} does not exist on the controller`]);
});
