// A failed chaos test keeps its runs' histories (ops, faults, check, timeline)
// outside the project it deletes, so the failure can be read afterwards.
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Copies <project>/out/chaos to a fresh folder under the temp dir; returns a line naming it ('' when there is none). */
export function keepChaosRuns(projectDir: string): string {
  const from = join(projectDir, 'out', 'chaos');
  if (!existsSync(from)) return '';
  const to = join(tmpdir(), 'unibus-chaos-kept', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(to, { recursive: true, mode: 0o700 });
  cpSync(from, to, { recursive: true });
  // Local nodes' logs too (a lab host's journal is printed by its test).
  const local = join(projectDir, '.unibus', 'local');
  for (const n of existsSync(local) ? readdirSync(local) : []) {
    const log = join(local, n, 'membershipd.log');
    if (existsSync(log)) cpSync(log, join(to, `${n}.membershipd.log`));
  }
  return `chaos runs kept in ${to}`;
}
