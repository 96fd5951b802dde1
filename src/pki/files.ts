// File helpers for key material: private folders, atomic writes with a mode.
import { chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeTempBeside } from '../util/fs.js';

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

/**
 * Write each file through a temp file in its folder (created with its mode,
 * fsynced), then rename them all over their targets: a reader never sees a
 * half-written key, and a key and its certificate are swapped in back to back
 * rather than one slow write apart.
 */
export async function writeFilesAtomic(writes: FileWrite[]): Promise<void> {
  const temps: string[] = [];
  try {
    for (const w of writes) {
      await ensurePrivateDir(dirname(w.file));
      temps.push(await writeTempBeside(w.file, w.data, w.mode ?? 0o600));
    }
  } catch (err) {
    await Promise.all(temps.map((t) => rm(t, { force: true })));
    throw err;
  }
  for (const [i, w] of writes.entries()) await rename(temps[i]!, w.file);
}

/** One file of key material: its folder made (or narrowed to) 0700, then written as writeFilesAtomic does. */
export async function writePrivateFile(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
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
