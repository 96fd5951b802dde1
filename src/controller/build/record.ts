// The membershipd bundle's build record: which files the last build read and
// the sha256 of each, and the bundle's own sha256. A build is current when every recorded file still has its recorded
// content and the bundle is the one that build wrote.
//
// Invariants:
// - Staleness is decided by content, never by mtime: a fresh clone, a
//   `git checkout` or a copied tree (all new mtimes) does not rebuild, and an
//   edit that keeps the mtime (or a checkout back in time) still does.
// - Only real files under the package root are recorded (esbuild's virtual
//   modules, such as the stand-ins for listhen's unused imports, are not files).
// - Paths are relative to the package root, so a moved or copied tree keeps
//   its record.
// - The record is written after the bundle, both atomically: a build cut
//   short leaves either the old pair or a bundle whose hash the record does
//   not name, which reads as stale.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../../util/hash.js';

export interface BundleRecord {
  /** Relative path -> sha256 of the content the build read. */
  files: Record<string, string>;
  /** sha256 of the bundle the build wrote. */
  bundle: string;
}

/**
 * Files outside the import graph that still shape the bundle: the build
 * program itself and the dependency versions (node_modules is left out of
 * the per-file record: thousands of files, all pinned by the lock file).
 */
export const BUILD_EXTRA_INPUTS = ['src/controller/steps/bundle.ts', 'package-lock.json'];

export function recordPathOf(bundle: string): string {
  return bundle.replace(/\.mjs$/, '') + '.inputs.json';
}

/** The record of a build that read `inputs` (relative paths of real files) and wrote `bundle`. */
export function makeRecord(root: string, inputs: string[], bundle: Buffer): BundleRecord {
  const files: Record<string, string> = {};
  for (const f of [...new Set([...inputs, ...BUILD_EXTRA_INPUTS])].sort()) {
    const p = join(root, f);
    if (existsSync(p)) files[f] = sha256Hex(readFileSync(p));
  }
  return { files, bundle: sha256Hex(bundle) };
}

function readRecord(bundle: string): BundleRecord | null {
  try {
    const r = JSON.parse(readFileSync(recordPathOf(bundle), 'utf8')) as Partial<BundleRecord>;
    if (!r.files || typeof r.bundle !== 'string') return null;
    return r as BundleRecord;
  } catch {
    return null;
  }
}

/** Why the bundle at `bundle` (built from the tree at `root`) must be built again, or null when it is current. */
export function staleReason(root: string, bundle: string): string | null {
  if (!existsSync(bundle)) return 'not built yet';
  const rec = readRecord(bundle);
  if (!rec) return `${recordPathOf(bundle)} is missing or unreadable`;
  if (sha256Hex(readFileSync(bundle)) !== rec.bundle) return `${bundle} is not the file its last build wrote`;
  const changed: string[] = [];
  for (const [f, sum] of Object.entries(rec.files)) {
    const p = join(root, f);
    if (!existsSync(p)) changed.push(`${f} (removed)`);
    else if (sha256Hex(readFileSync(p)) !== sum) changed.push(f);
  }
  if (!changed.length) return null;
  const shown = changed.slice(0, 3).join(', ');
  return `sources changed since the last build: ${shown}${changed.length > 3 ? ` (+${changed.length - 3} more)` : ''}`;
}
