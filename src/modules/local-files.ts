import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { ModuleArgsError } from './errors.js';

/**
 * Finds a controller-side file named by a task's `src`: an absolute path as
 * is, else under each base folder (the role's folder first, then the
 * playbook's) in `<base>/<sub>/<src>` and then `<base>/<src>`.
 */
export function resolveLocalFile(module: string, src: string, baseDirs: readonly string[], sub: string): string {
  if (isAbsolute(src)) {
    if (existsSync(src)) return src;
    throw new ModuleArgsError(module, 'src', `${src} does not exist`);
  }
  const tried: string[] = [];
  for (const base of baseDirs) {
    for (const p of [join(base, sub, src), join(base, src)]) {
      tried.push(p);
      if (existsSync(p)) return p;
    }
  }
  throw new ModuleArgsError(module, 'src', `${src} not found (looked in ${tried.join(', ') || 'no base folders'})`);
}
