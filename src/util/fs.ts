// Files written so that a reader never sees half of one: the content goes to
// a temp file beside the target (created with its final mode, so a key is
// never readable by others even for a moment), is flushed to disk, then
// renamed over the target.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes `data` to a new temp file in `file`'s folder (mode from the start, fsynced); returns its path. */
export async function writeTempBeside(file: string, data: string | Uint8Array, mode: number): Promise<string> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
    await fh.chmod(mode); // open()'s mode is filtered by the umask
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  return tmp;
}

/** Temp file + fsync + rename. A missing folder is made 0700; an existing one is left as it is. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await rename(await writeTempBeside(file, data, mode), file);
}
