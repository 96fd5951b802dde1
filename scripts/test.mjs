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
// Files that need no lab and no whole cluster of their own run two at a time
// (most of their time is waiting: servers starting, elections): 304 s for the
// 81 of them, against 583 s one at a time, measured on two cores. The
// end-to-end and lab files run one at a time after them: they drive whole
// clusters, share the lab, and would only starve each other.
const SERIAL = (f) => f.startsWith('test/e2e/') || f.startsWith('test/lab/');
const groups = [
  { files: files.filter((f) => !SERIAL(f)), concurrency: Number(process.env.UNIBUS_TEST_CONCURRENCY ?? 2) },
  { files: files.filter(SERIAL), concurrency: 1 },
].filter((g) => g.files.length);
let status = 0;
for (const g of groups) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${g.concurrency}`, ...g.files], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) status = r.status ?? 1;
}
process.exit(status);
