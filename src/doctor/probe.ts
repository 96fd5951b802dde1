// Looks for each checked tool on this machine and asks it for its version.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { CheckSpec, Probe } from './checks.js';

/** sbin folders and /usr/local/bin too: root's tools (debootstrap) and our nats-server install live there even when PATH lacks them. */
export function findOnPath(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  const dirs = [...path.split(':').filter(Boolean), '/usr/local/bin', '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    const p = join(d, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function versionOutput(file: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    // Bounded; a tool that exits non-zero on --version still says what it is.
    execFile(file, args, { timeout: 10_000, encoding: 'utf8' }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

export async function probe(spec: CheckSpec): Promise<Probe> {
  if (spec.id === 'node') return { found: true, path: process.execPath, output: process.version };
  const path = findOnPath(spec.command);
  if (!path) return { found: false, output: '' };
  // No version arguments means presence is all we check (some tools have no --version).
  const output = spec.versionArgs.length ? await versionOutput(path, spec.versionArgs) : '';
  return { found: true, path, output };
}
