// A backup folder on the controller (`play backup`, `play restore`):
//
//   backups/<UTC stamp>/           0700, made whole under a temp name, then renamed
//     control-plane.json           0600: what `membershipd backup` writes (every
//                                  bucket but the nonces, every blob; its own digest)
//     secrets/<file>               0600: the project's secrets/ as they were (the
//                                  CAs' keys, the cluster password, the admin seed):
//                                  a fresh cluster trusts its users and nodes again
//                                  only with these
//     SHA256SUMS                   0600: sha256 of each file above, as sha256sum writes it
//
// Invariants:
// - A folder is never half there: it is written under `.<stamp>.partial`
//   and renamed once every file is synced.
// - Reading checks every hash and the document's own digest before anything
//   is restored, and names the file that does not match.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, fsyncSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkBackupDoc, type BackupDoc } from '../../daemon/index.js';
import { UnibusError } from '../../errors.js';

export class BackupFolderError extends UnibusError {}

export const BACKUP_DATA = 'control-plane.json';
export const BACKUP_SECRETS = 'secrets';
export const BACKUP_SUMS = 'SHA256SUMS';

/** A folder name that sorts by time: 20261207T081500Z. */
export function backupStamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function writeSynced(file: string, content: Buffer | string): void {
  writeFileSync(file, content, { mode: 0o600 });
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The regular files of the project's secrets folder, by name (none when it does not exist). */
export function readSecrets(secretsDir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!existsSync(secretsDir)) return out;
  for (const name of readdirSync(secretsDir).sort()) {
    const f = join(secretsDir, name);
    if (statSync(f).isFile()) out.set(name, readFileSync(f));
  }
  return out;
}

/** Writes a backup folder under `dest` (see the header); returns its path. */
export function writeBackup(dest: string, doc: BackupDoc, secretsDir: string, now = new Date()): { dir: string; secrets: number } {
  mkdirSync(dest, { recursive: true, mode: 0o700 });
  const stamp = backupStamp(now);
  const dir = join(dest, stamp);
  if (existsSync(dir)) throw new BackupFolderError(`${dir} exists already: a backup is never overwritten`);
  const tmp = join(dest, `.${stamp}.partial`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, BACKUP_SECRETS), { recursive: true, mode: 0o700 });
  const sums: string[] = [];
  const put = (rel: string, content: Buffer) => {
    writeSynced(join(tmp, rel), content);
    sums.push(`${sha256(content)}  ${rel}`);
  };
  put(BACKUP_DATA, Buffer.from(JSON.stringify(doc) + '\n'));
  const secrets = readSecrets(secretsDir);
  for (const [name, content] of secrets) put(`${BACKUP_SECRETS}/${name}`, content);
  writeSynced(join(tmp, BACKUP_SUMS), sums.join('\n') + '\n');
  chmodSync(tmp, 0o700);
  renameSync(tmp, dir);
  return { dir, secrets: secrets.size };
}

/** Reads and checks a backup folder: every hash of SHA256SUMS, the document's digest; a file missing, extra or changed is named. */
export function readBackup(dir: string): { doc: BackupDoc; secrets: Map<string, Buffer> } {
  const sumsFile = join(dir, BACKUP_SUMS);
  if (!existsSync(sumsFile)) throw new BackupFolderError(`${dir}: not a backup folder (no ${BACKUP_SUMS}; expected a folder play backup wrote under backups/)`);
  const listed = new Map<string, string>();
  for (const [i, line] of readFileSync(sumsFile, 'utf8').split('\n').entries()) {
    if (!line) continue;
    const m = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!m || m[2]!.includes('..') || m[2]!.startsWith('/')) throw new BackupFolderError(`${sumsFile}:${i + 1}: expected "<sha256>  <file>", got ${JSON.stringify(line.slice(0, 80))}`);
    listed.set(m[2]!, m[1]!);
  }
  const present = [BACKUP_DATA, ...(existsSync(join(dir, BACKUP_SECRETS)) ? readdirSync(join(dir, BACKUP_SECRETS)).map((n) => `${BACKUP_SECRETS}/${n}`) : [])];
  for (const rel of present) if (!listed.has(rel)) throw new BackupFolderError(`${join(dir, rel)}: not in ${BACKUP_SUMS}: the folder was changed after the backup`);
  const secrets = new Map<string, Buffer>();
  let data: Buffer | undefined;
  for (const [rel, want] of listed) {
    const f = join(dir, rel);
    if (!existsSync(f)) throw new BackupFolderError(`${f}: missing (listed in ${BACKUP_SUMS})`);
    const content = readFileSync(f);
    if (sha256(content) !== want) throw new BackupFolderError(`${f}: sha256 does not match ${BACKUP_SUMS}: the file was changed or damaged`);
    if (rel === BACKUP_DATA) data = content;
    else secrets.set(relative(BACKUP_SECRETS, rel), content);
  }
  if (!data) throw new BackupFolderError(`${dir}: no ${BACKUP_DATA} in ${BACKUP_SUMS}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch (cause) {
    throw new BackupFolderError(`${join(dir, BACKUP_DATA)}: not JSON`, { cause });
  }
  return { doc: checkBackupDoc(parsed, join(dir, BACKUP_DATA)), secrets };
}
