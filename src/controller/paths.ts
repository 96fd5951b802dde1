// Where the controller's own files are: the unibus package, a task's project
// folder, the membershipd bundle.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The unibus package folder (src/controller or dist/controller is two levels down). */
export const UNIBUS_ROOT = join(HERE, '../..');

/** The project folder of a task: the last base folder (role folder first, then the project's). */
export function projectDirOf(baseDirs: readonly string[]): string {
  const d = baseDirs[baseDirs.length - 1];
  if (!d) throw new Error('no project folder in the task context');
  return d;
}

/** The membershipd bundle a deploy uploads, and whether it can be rebuilt here. */
export function bundlePaths() {
  return {
    bundle: join(UNIBUS_ROOT, 'dist', 'membershipd.mjs'),
    canBuild: existsSync(join(UNIBUS_ROOT, 'src', 'daemon', 'main.ts')),
  };
}
