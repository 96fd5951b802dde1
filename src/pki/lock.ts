// One PKI run at a time per secrets folder: two concurrent mints could each
// make a CA and leave leaves signed by the one that lost the rename race.
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PkiError } from './errors.js';
import { ensurePrivateDir } from './files.js';

export class PkiLockedError extends PkiError {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function acquire(file: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (pid > 0 && alive(pid)) throw new PkiLockedError(`${file}: another pki run (pid ${pid}) is in progress`);
      // Left by a run that died: take it over once.
      await rm(file, { force: true });
    }
  }
  throw new PkiLockedError(`${file}: could not take the pki lock`);
}

/** Run `fn` holding secrets/.pki.lock; plan and apply belong inside one hold. */
export async function withPkiLock<T>(secretsDir: string, fn: () => Promise<T>): Promise<T> {
  await ensurePrivateDir(secretsDir);
  const file = join(secretsDir, '.pki.lock');
  await acquire(file);
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}
