// Times the lab, by hand (never in npm test; it takes the shared lab down):
//   node --import tsx test/lab/measure.ts [--cold]
// --cold also builds a base from nothing in a scratch cache (the shared cache is untouched).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const BASE = fileURLToPath(new URL('./base.ts', import.meta.url));

function timed(label: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 30 * 60_000 });
  const s = (Date.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${label}: exit ${r.status}`);
  console.log(`${label.padEnd(28)} ${s.toFixed(1)} s`);
  return s;
}

if (process.argv.includes('--cold')) {
  const scratch = mkdtempSync('/var/tmp/ublab-cold-');
  try {
    timed('base from nothing', ['-e', `import(${JSON.stringify(BASE)}).then((m) => m.ensureBase())`],
      { ...process.env, UNIBUS_LAB_CACHE: scratch });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
timed('down (whatever was up)', [CLI, 'down']);
for (const n of [3, 12]) {
  timed(`up --hosts ${n} (warm base)`, [CLI, 'up', '--hosts', String(n)]);
  timed(`down (${n} hosts)`, [CLI, 'down']);
}
