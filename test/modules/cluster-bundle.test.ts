// The membershipd bundle's staleness is decided by content: a copied tree
// (every mtime new) is current, a real edit is not, and the record names only
// real files (esbuild's virtual modules once made every bringup rebuild).
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { recordPathOf, staleReason, type BundleRecord } from '../../src/controller/build/record.js';
import { buildBundle } from '../../src/controller/steps/bundle.js';
import { ROOT } from '../harness/root.js';

let work: string;
/** A tree as a clone has it: the sources, the lock file, and the installed dependencies. */
function copyTree(to: string): string {
  cpSync(join(ROOT, 'src'), join(to, 'src'), { recursive: true });
  cpSync(join(ROOT, 'package-lock.json'), join(to, 'package-lock.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(to, 'node_modules'));
  return to;
}

let a: string;
let bundleA: string;
before(async () => {
  work = mkdtempSync(join(tmpdir(), 'unibus-bundle-'));
  a = copyTree(join(work, 'a'));
  bundleA = join(a, 'dist', 'membershipd.mjs');
  await buildBundle(a, bundleA);
});
after(() => rmSync(work, { recursive: true, force: true }));

test('the record names only real files of the tree, each with its sha256', () => {
  const rec = JSON.parse(readFileSync(recordPathOf(bundleA), 'utf8')) as BundleRecord;
  const files = Object.keys(rec.files);
  assert.ok(files.includes('src/daemon/main.ts') && files.includes('package-lock.json'), files.slice(0, 5).join(', '));
  for (const f of files) assert.ok(existsSync(join(a, f)), `${f} is not a file of the tree`);
  assert.ok(!files.some((f) => f.includes(':') || f.includes('node_modules')), files.filter((f) => f.includes(':')).join(', '));
  assert.ok(files.includes('src/daemon/commands/user.ts'), 'the operator commands, imported by main.ts, are inputs');
  assert.equal(staleReason(a, bundleA), null);
});

test('new mtimes (a clone, a checkout, a copy) do not make it stale; content does', () => {
  const b = join(work, 'b');
  cpSync(a, b, { recursive: true, verbatimSymlinks: true });
  const bundleB = join(b, 'dist', 'membershipd.mjs');
  const later = new Date(Date.now() + 3_600_000);
  utimesSync(join(b, 'src/daemon/main.ts'), later, later);
  assert.equal(staleReason(b, bundleB), null, 'a copied, touched tree is current');

  const main = join(b, 'src/daemon/main.ts');
  const before = readFileSync(main);
  appendFileSync(main, '\n// an edit\n');
  assert.match(staleReason(b, bundleB) ?? '', /sources changed since the last build: src\/daemon\/main\.ts/);
  // An edit that keeps the old mtime still counts.
  const old = new Date(0);
  utimesSync(main, old, old);
  assert.match(staleReason(b, bundleB) ?? '', /src\/daemon\/main\.ts/);
  writeFileSync(main, before);
  assert.equal(staleReason(b, bundleB), null, 'the edit undone: current again');

  appendFileSync(join(b, 'package-lock.json'), '\n');
  assert.match(staleReason(b, bundleB) ?? '', /package-lock\.json/);
});

test('a removed source, an altered bundle or a lost record each make it stale', () => {
  const c = join(work, 'c');
  cpSync(a, c, { recursive: true, verbatimSymlinks: true });
  const bundleC = join(c, 'dist', 'membershipd.mjs');
  rmSync(join(c, 'src/daemon/flags.ts'));
  assert.match(staleReason(c, bundleC) ?? '', /src\/daemon\/flags\.ts \(removed\)/);
  cpSync(join(a, 'src/daemon/flags.ts'), join(c, 'src/daemon/flags.ts'));

  appendFileSync(bundleC, '\n');
  assert.match(staleReason(c, bundleC) ?? '', /not the file its last build wrote/);
  cpSync(bundleA, bundleC);
  assert.equal(staleReason(c, bundleC), null);

  rmSync(recordPathOf(bundleC));
  assert.match(staleReason(c, bundleC) ?? '', /missing or unreadable/);
  rmSync(bundleC);
  assert.equal(staleReason(c, bundleC), 'not built yet');
});
