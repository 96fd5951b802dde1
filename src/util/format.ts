// Small formatters shared by plans, uploads and paths.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** 0o644 -> '0644': the form chmod takes and plans show. */
export function formatMode(mode: number): string {
  return '0' + (mode & 0o7777).toString(8).padStart(3, '0');
}

/** `~/x` -> the controller user's home folder + x; other paths are returned as they are. */
export function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}
