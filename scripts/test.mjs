#!/usr/bin/env node
// Runs every test file through node:test with the tsx loader.
// Usage: node scripts/test.mjs [--unit] [path-filter...]
// --unit skips test/e2e and test/lab (they need root, the lab and nats-server).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

let files = walk(join(root, 'test')).sort();
if (unitOnly) files = files.filter((f) => !f.startsWith('test/e2e/') && !f.startsWith('test/lab/'));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (!files.length) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
