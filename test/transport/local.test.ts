import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ExecTimeoutError } from '../../src/transport/errors.js';
import { LocalTransport } from '../../src/transport/local.js';
import { Secret } from '../../src/secret.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-local-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const t = new LocalTransport();

/** Running and not a zombie (a killed orphan may wait unreaped when PID 1 does not reap). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('local transport', () => {
  it('runs argv without a shell interpreting the words', async () => {
    const r = await t.exec({ argv: ['printf', '%s|', 'a b', '$HOME', "it's", '*', ''] });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "a b|$HOME|it's|*||");
  });

  it('returns the exit code and stderr, and runs in cwd', async () => {
    const r = await t.exec({ argv: ['sh', '-c', 'pwd; echo err >&2; exit 7'], cwd: dir });
    assert.equal(r.code, 7);
    assert.equal(r.stdout.trim(), dir);
    assert.equal(r.stderr.trim(), 'err');
  });

  it('a missing cwd is a transport error naming the folder', async () => {
    await assert.rejects(t.exec({ argv: ['pwd'], cwd: join(dir, 'nope') }), /cannot start pwd in .*nope/);
  });

  it('sends stdin: text, binary and a Secret revealed only into the pipe', async () => {
    assert.equal((await t.exec({ argv: ['cat'], stdin: 'hello' })).stdout, 'hello');
    const bin = await t.exec({ argv: ['sha256sum'], stdin: Buffer.from([0, 255, 1]) });
    const expected = (await import('node:crypto')).createHash('sha256').update(Buffer.from([0, 255, 1])).digest('hex');
    assert.equal(bin.stdout.slice(0, 64), expected);
    assert.equal((await t.exec({ argv: ['cat'], stdin: new Secret('pw!') })).stdout, 'pw!');
    // no stdin means an empty, closed stdin: cat ends at once
    assert.equal((await t.exec({ argv: ['cat'], timeoutMs: 5000 })).stdout, '');
  });

  // sleep 30 outlives the test's own timeout: a timeout that did not kill would fail it
  it('kills the whole process group on timeout', { timeout: 20_000 }, async () => {
    const pidFile = join(dir, 'child.pid');
    await assert.rejects(
      t.exec({ argv: ['sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`], timeoutMs: 500 }),
      (e: unknown) => e instanceof ExecTimeoutError && e.timeoutMs === 500,
    );
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // the grandchild was in the group: it is gone (give the kernel a moment to reap)
    for (let i = 0; i < 50 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(isAlive(pid), false);
  });

  it('put writes atomically: exact content, mode set, no temp file left', async () => {
    const p = join(dir, 'a.conf');
    await t.put(p, Buffer.from('one\n'), { mode: 0o640 });
    assert.equal(readFileSync(p, 'utf8'), 'one\n');
    assert.equal(statSync(p).mode & 0o7777, 0o640);
    await t.put(p, new Secret('two\n'));
    assert.equal(readFileSync(p, 'utf8'), 'two\n');
    assert.equal(statSync(p).mode & 0o7777, 0o640, 'keeps the existing mode when none is given');
    await t.put(join(dir, 'new'), Buffer.from('x'));
    assert.equal(statSync(join(dir, 'new')).mode & 0o7777, 0o644);
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('unibus-')), []);
  });

  it('put sets the owner and group', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
    const p = join(dir, 'owned');
    await t.put(p, Buffer.from('x'), { owner: 'nobody', group: 'nogroup', mode: 0o600 });
    const st = statSync(p);
    assert.equal(st.uid, 65534);
    assert.equal(st.gid, 65534);
  });

  it('a failed put leaves the target and no temp file', async () => {
    const p = join(dir, 'keep');
    writeFileSync(p, 'original');
    await assert.rejects(t.put(p, Buffer.from('new'), { owner: 'no-such-user-xyz' }), /put .*keep failed/);
    assert.equal(readFileSync(p, 'utf8'), 'original');
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('unibus-')), []);
  });

  it('get returns bytes, or null when missing', async () => {
    writeFileSync(join(dir, 'bin'), Buffer.from([1, 2, 3]));
    assert.deepEqual(await t.get(join(dir, 'bin')), Buffer.from([1, 2, 3]));
    assert.equal(await t.get(join(dir, 'missing')), null);
  });
});
