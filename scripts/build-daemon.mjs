#!/usr/bin/env node
// Builds dist/membershipd.mjs (or the path given) from this tree's sources:
// the build itself is src/controller/steps/bundle.ts, run here from source, so a
// build never depends on dist/ being current.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../src/controller/steps/bundle.ts', import.meta.url));
const r = spawnSync(process.execPath, ['--import', 'tsx', entry, ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: fileURLToPath(new URL('..', import.meta.url)),
});
process.exit(r.status ?? 1);
