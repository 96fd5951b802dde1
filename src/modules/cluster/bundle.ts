// cluster_bundle: the one-file membershipd build that nodes run
// (dist/membershipd.mjs), rebuilt on the controller when the content of a
// file its last build read has changed (cluster/bundle.ts). With `path` set,
// that prebuilt file is used as is.
import { existsSync } from 'node:fs';
import { staleReason } from '../../controller/build/record.js';
import { bundlePaths, UNIBUS_ROOT } from '../../controller/paths.js';
import { stepArgv } from '../../controller/steps/step.js';
import { defineModule } from '../define.js';
import type { ArgsSchema } from '../types.js';

const argsSchema = { type: 'object', additionalProperties: false, properties: { path: { type: 'string' } } } as const satisfies ArgsSchema;

export const cluster_bundle = defineModule({
  name: 'cluster_bundle',
  argsSchema,
  async plan(args) {
    const given = args.path;
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
    const stale = staleReason(UNIBUS_ROOT, b.bundle);
    if (!stale) return { changed: false, reason: `${b.bundle} built from the current sources`, commands: [], result };
    return {
      changed: true,
      reason: stale,
      commands: [{ kind: 'exec', argv: stepArgv('bundle', [b.bundle]), timeoutMs: 120_000, label: `bundle membershipd into ${b.bundle}` }],
      result,
    };
  },
});
