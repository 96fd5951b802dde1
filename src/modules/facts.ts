import type { Transport } from '../transport/types.js';
import { FactError } from './errors.js';

// Read-only fact gathering shared by copy, template and file. One exec per
// task reads everything about its paths, so a no-op run stays one round-trip
// per task.

export type PathFacts =
  | { path: string; exists: false }
  | {
      path: string;
      exists: true;
      type: 'file' | 'directory' | 'other';
      mode: number;
      owner: string;
      group: string;
      size: number;
      /** Hex sha256 of a regular file's content. */
      sha256?: string;
    };

/**
 * Prints one line per path argument: `A` when absent, else
 * `P|<%F>|<%a>|<%U>|<%G>|<%s>|<sha256 or ->`. Symlinks are followed, as copy
 * and template write through them.
 */
export const STAT_SCRIPT = [
  'for p in "$@"; do',
  '  if [ -e "$p" ]; then',
  `    s=$(stat -L -c '%F|%a|%U|%G|%s' -- "$p") || exit 2`,
  '    h=-',
  '    if [ -f "$p" ]; then h=$(sha256sum -- "$p" | cut -c1-64) || exit 2; fi',
  `    printf 'P|%s|%s\\n' "$s" "$h"`,
  '  else',
  `    printf 'A\\n'`,
  '  fi',
  'done',
].join('\n');

export function statArgv(paths: readonly string[]): string[] {
  return ['sh', '-c', STAT_SCRIPT, 'unibus-stat', ...paths];
}

function parseType(t: string): 'file' | 'directory' | 'other' {
  if (t === 'regular file' || t === 'regular empty file') return 'file';
  if (t === 'directory') return 'directory';
  return 'other';
}

export function parseStatOutput(paths: readonly string[], stdout: string): PathFacts[] | null {
  const lines = stdout.split('\n').filter((l) => l !== '');
  if (lines.length !== paths.length) return null;
  const out: PathFacts[] = [];
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]!;
    const line = lines[i]!;
    if (line === 'A') {
      out.push({ path, exists: false });
      continue;
    }
    const f = line.split('|');
    if (f.length !== 7 || f[0] !== 'P') return null;
    const mode = parseInt(f[2]!, 8);
    const size = Number(f[5]);
    if (Number.isNaN(mode) || Number.isNaN(size)) return null;
    out.push({
      path,
      exists: true,
      type: parseType(f[1]!),
      mode,
      owner: f[3]!,
      group: f[4]!,
      size,
      ...(f[6] !== '-' ? { sha256: f[6]! } : {}),
    });
  }
  return out;
}

/** Stats several paths on the host in one exec. */
export async function statPaths(t: Transport, paths: readonly string[], sudo?: boolean): Promise<PathFacts[]> {
  const r = await t.exec({ argv: statArgv(paths), sudo, timeoutMs: 30_000 });
  const parsed = r.code === 0 ? parseStatOutput(paths, r.stdout) : null;
  if (!parsed) {
    throw new FactError(t.host, `stat of ${paths.join(', ')}`, `rc=${r.code} ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return parsed;
}

/** `test -e` for one path, as a boolean. */
export async function pathExists(t: Transport, path: string, sudo?: boolean): Promise<boolean> {
  const r = await t.exec({ argv: ['test', '-e', path], sudo, timeoutMs: 30_000 });
  if (r.code !== 0 && r.code !== 1) throw new FactError(t.host, `existence of ${path}`, `rc=${r.code} ${r.stderr.trim()}`);
  return r.code === 0;
}
