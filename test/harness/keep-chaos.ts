// A failed chaos test keeps its runs' histories (ops, faults, check, timeline)
// outside the project it deletes, so the failure can be read afterwards.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Copies <project>/out/chaos to a fresh folder under the temp dir; returns a line naming it ('' when there is none). */
export function keepChaosRuns(projectDir: string): string {
  const from = join(projectDir, 'out', 'chaos');
  if (!existsSync(from)) return '';
  const to = join(tmpdir(), 'unibus-chaos-kept', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(to, { recursive: true, mode: 0o700 });
  cpSync(from, to, { recursive: true });
  return `chaos runs kept in ${to}`;
}
