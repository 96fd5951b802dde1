// File helpers for key material: private folders, atomic writes with a mode.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Create `dir` (and parents) and make sure it is 0700 even if it existed wider. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

export interface FileWrite {
  file: string;
  data: string | Uint8Array;
  mode?: number;
}

async function writeTemp(w: FileWrite): Promise<string> {
  await ensurePrivateDir(dirname(w.file));
  const tmp = join(dirname(w.file), `.${basename(w.file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const mode = w.mode ?? 0o600;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(w.data);
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

/**
 * Write each file through a temp file in its folder (created with its mode,
 * fsynced), then rename them all over their targets: a reader never sees a
 * half-written key, and a key and its certificate are swapped in back to back
 * rather than one slow write apart.
 */
export async function writeFilesAtomic(writes: FileWrite[]): Promise<void> {
  const temps: string[] = [];
  try {
    for (const w of writes) temps.push(await writeTemp(w));
  } catch (err) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    throw err;
  }
  for (const [i, w] of writes.entries()) await rename(temps[i]!, w.file);
}

export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  await writeFilesAtomic([{ file, data, mode }]);
}

/** The file's bytes, or undefined when it does not exist. Other errors propagate. */
export async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
