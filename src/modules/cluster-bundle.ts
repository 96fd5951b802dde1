// cluster_bundle: the one-file membershipd build that nodes run
// (dist/membershipd.mjs), rebuilt on the controller when a source file is
// newer than it. With `path` set, that prebuilt file is used as is.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { bundlePaths } from '../cluster/controller.js';
import { readString } from './args.js';
import type { Module } from './types.js';

/** Newest mtime of the files the last build read (its .inputs.json), or Infinity when unknown. */
function newestInput(bundle: string): number {
  const list = bundle.replace(/\.mjs$/, '') + '.inputs.json';
  if (!existsSync(list)) return Infinity;
  const { root, inputs } = JSON.parse(readFileSync(list, 'utf8')) as { root: string; inputs: string[] };
  let newest = 0;
  for (const f of inputs) {
    const p = resolve(root, f);
    // A source that is gone changed the build.
    newest = Math.max(newest, existsSync(p) ? statSync(p).mtimeMs : Infinity);
  }
  return newest;
}

export const cluster_bundle: Module = {
  name: 'cluster_bundle',
  argsSchema: { type: 'object', additionalProperties: false, properties: { path: { type: 'string' } } },
  async plan(args) {
    const given = readString('cluster_bundle', 'path', args.path);
    if (given) {
      if (!existsSync(given)) return { changed: false, failed: true, reason: `${given} does not exist`, commands: [] };
      return { changed: false, reason: `prebuilt ${given}`, commands: [], result: { path: given } };
    }
    const b = bundlePaths();
    const result = { path: b.bundle };
    if (!b.canBuild) {
      if (existsSync(b.bundle)) return { changed: false, reason: `shipped ${b.bundle}`, commands: [], result };
      return { changed: false, failed: true, reason: `${b.bundle} is missing and there are no sources to build it`, commands: [] };
    }
    const built = existsSync(b.bundle) ? statSync(b.bundle).mtimeMs : 0;
    if (built && built >= newestInput(b.bundle)) return { changed: false, reason: `${b.bundle} newer than the sources`, commands: [], result };
    return {
      changed: true,
      reason: built ? 'sources changed since the last build' : 'not built yet',
      commands: [{ kind: 'exec', argv: [process.execPath, b.script, b.bundle], timeoutMs: 120_000, label: `bundle membershipd into ${b.bundle}` }],
      result,
    };
  },
};
