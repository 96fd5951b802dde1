// A backup folder as play backup writes it and play restore reads it: made
// whole under a temp name, modes 0700 and 0600, every file in SHA256SUMS;
// a changed, missing or extra file, or a document whose digest fails, is
// named by path before anything is restored.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, appendFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BACKUP_SUMS, backupStamp, readBackup, writeBackup } from '../../src/controller/admin/backup.js';
import type { BackupDoc } from '../../src/daemon/index.js';
import { sha256Hex } from '../../src/util/hash.js';

const root = mkdtempSync(join(tmpdir(), 'unibus-backup-'));
after(() => rmSync(root, { recursive: true, force: true }));

function doc(): BackupDoc {
  const d: BackupDoc = { format: 'unibus-backup', version: 1, created_at: '2026-12-07T08:00:00.000Z', buckets: { UNIBUS_users: [{ key: 'ops', value: Buffer.from('{"role":"admin"}').toString('base64'), created: '2026-12-07T07:59:00.000Z' }] }, blobs: [], digest: '' };
  d.digest = sha256Hex(Buffer.from(JSON.stringify({ ...d, digest: '' })));
  return d;
}
let n = 0;
function folder(): string {
  const secrets = join(root, `secrets-${++n}`);
  mkdirSync(secrets, { mode: 0o700 });
  writeFileSync(join(secrets, 'client-ca.key'), 'KEY', { mode: 0o600 });
  writeFileSync(join(secrets, 'cluster.pass'), 'PASS', { mode: 0o600 });
  return writeBackup(join(root, `backups-${n}`), doc(), secrets, new Date(Date.UTC(2026, 11, 7, 8, 15, n))).dir;
}

describe('backup folders', () => {
  it('written whole: 0700, files 0600, every file hashed, read back as written', () => {
    const dir = folder();
    assert.match(dir, /backups-\d+\/20261207T0815\d\dZ$/);
    assert.deepEqual(readdirSync(join(dir, '..')), [dir.split('/').at(-1)], 'no partial folder left beside it');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const f of ['control-plane.json', BACKUP_SUMS, 'secrets/client-ca.key', 'secrets/cluster.pass']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    const r = readBackup(dir);
    assert.deepEqual(r.doc, doc());
    assert.deepEqual([...r.secrets].map(([k, v]) => [k, v.toString()]), [['client-ca.key', 'KEY'], ['cluster.pass', 'PASS']]);
    assert.equal(backupStamp(new Date('2026-01-02T03:04:05.678Z')), '20260102T030405Z');
  });

  it('never over another backup', () => {
    const dir = folder();
    assert.throws(() => writeBackup(join(dir, '..'), doc(), join(root, `secrets-${n}`), new Date(Date.UTC(2026, 11, 7, 8, 15, n))), /exists already: a backup is never overwritten/);
  });

  it('a changed, missing or extra file, a bad SHA256SUMS line, or a document whose digest fails is named', () => {
    let dir = folder();
    appendFileSync(join(dir, 'secrets', 'cluster.pass'), 'x');
    assert.throws(() => readBackup(dir), /secrets\/cluster\.pass: sha256 does not match SHA256SUMS/);
    dir = folder();
    unlinkSync(join(dir, 'secrets', 'client-ca.key'));
    assert.throws(() => readBackup(dir), /client-ca\.key: missing \(listed in SHA256SUMS\)/);
    dir = folder();
    writeFileSync(join(dir, 'secrets', 'extra.key'), 'E');
    assert.throws(() => readBackup(dir), /extra\.key: not in SHA256SUMS/);
    dir = folder();
    appendFileSync(join(dir, BACKUP_SUMS), 'nonsense\n');
    assert.throws(() => readBackup(dir), /SHA256SUMS:4: expected "<sha256>  <file>"/);
    dir = folder();
    const bad = { ...doc(), created_at: '2026-12-08T00:00:00.000Z' };
    const text = JSON.stringify(bad) + '\n';
    writeFileSync(join(dir, 'control-plane.json'), text);
    const sums = `${sha256Hex(Buffer.from(text))}  control-plane.json\n${readdirSync(join(dir, 'secrets')).map((f) => `${sha256Hex(Buffer.from(f === 'cluster.pass' ? 'PASS' : 'KEY'))}  secrets/${f}`).join('\n')}\n`;
    writeFileSync(join(dir, BACKUP_SUMS), sums);
    assert.throws(() => readBackup(dir), /control-plane\.json: digest mismatch/);
    assert.throws(() => readBackup(join(root, 'nowhere')), /not a backup folder \(no SHA256SUMS/);
    assert.ok(!existsSync(join(root, 'nowhere')));
  });
});
