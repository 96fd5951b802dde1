// Controller-side programs that cluster tasks run as commands (commands are
// data: a module returns an argv, the executor runs it). The argv runs this
// same unibus, from source under tsx or from dist/, whichever is running now.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** The unibus package folder (src/cluster or dist/cluster is two levels down). */
export const UNIBUS_ROOT = join(HERE, '../..');

/** argv that runs src/cluster/<name>.ts (or dist/cluster/<name>.js) with this node. */
export function controllerArgv(name: string, args: string[] = []): string[] {
  const file = join(HERE, `${name}${FROM_SOURCE ? '.ts' : '.js'}`);
  // An absolute loader path: the command may run with any working folder.
  const loader = FROM_SOURCE ? ['--import', import.meta.resolve('tsx')] : [];
  return [process.execPath, ...loader, file, ...args];
}

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
