// The nats-server every node runs (inventory `cluster.nats_server`):
//
// cluster_nats_release (on the controller): the pinned release's binary for
//   a node's architecture, in the controller's cache with its pinned sha256;
//   fetched from the Debian mirror when it is not (controller/nats-server/).
// cluster_nats_check (on the node): the binary membershipd will start
//   answers `--version` with the version the inventory pins (`version`), or
//   one no older than `min_version` (a `debian` source without a pin).
//
// Facts first: the cache's digest, the host's `--version`; a command only to
// fetch what is missing. Both are read-only on nodes, so they run in check mode.
import { cachedPaths, cacheRoot, inCache } from '../../controller/nats-server/fetch.js';
import { compareVersions, debianArch, parseServerVersion, RELEASES, shippedVersions } from '../../inventory/nats-releases.js';
import { stepArgv } from '../../controller/steps/step.js';
import { defineModule } from '../define.js';
import type { Fact } from '../facts/types.js';
import type { ArgsSchema } from '../types.js';

const releaseArgs = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'arch'],
  properties: { version: { type: 'string' }, arch: { type: 'string', description: "the node's `uname -m` (x86_64, aarch64) or Debian's name for it" } },
} as const satisfies ArgsSchema;

export const cluster_nats_release = defineModule({
  name: 'cluster_nats_release',
  argsSchema: releaseArgs,
  async plan(args) {
    const arch = debianArch(args.arch);
    if (!arch) return { changed: false, failed: true, reason: `unibus ships nats-server for amd64 and arm64, not ${args.arch}: use cluster.nats_server.source debian`, commands: [] };
    const rel = RELEASES[args.version];
    if (!rel) return { changed: false, failed: true, reason: `nats-server ${args.version} is not a release unibus ships (it ships ${shippedVersions().join(', ')})`, commands: [] };
    const p = cachedPaths(cacheRoot(), args.version, arch);
    const result = { path: p.bin, deb: p.deb, version: args.version, arch };
    // A binary in the cache counts only with its pinned digest (16 MB read, a few ms).
    if (inCache(cacheRoot(), args.version, arch)) {
      return { changed: false, reason: `nats-server ${args.version} (${arch}) in ${p.bin}, sha256 as pinned`, commands: [], result };
    }
    return {
      changed: true,
      reason: `nats-server ${args.version} (${arch}) is not in ${p.dir} with its pinned sha256`,
      commands: [{ kind: 'exec', argv: stepArgv('nats-server', [args.version, arch]), verdict: true, timeoutMs: 240_000, label: `fetch Debian's nats-server ${args.version} package (${arch}), check its sha256, take out its binary` }],
      result,
    };
  },
});

/** `<bin> --version`: the version it answers, or why none. */
const SERVER_VERSION: Fact<string, { version: string | null; out: string; missing: boolean }> = {
  name: 'version of',
  timeoutMs: 10_000,
  argv: (bin) => ['sh', '-c', 'command -v -- "$1" >/dev/null 2>&1 || exit 127; "$1" --version 2>&1', 'unibus-nats-version', bin],
  parse: (_bin, r) => ({ version: r.code === 0 ? parseServerVersion(r.stdout) : null, out: r.stdout.trim().slice(0, 200), missing: r.code === 127 }),
};

const checkArgs = {
  type: 'object',
  additionalProperties: false,
  required: ['bin'],
  properties: { bin: { type: 'string' }, version: { type: 'string' }, min_version: { type: 'string' } },
} as const satisfies ArgsSchema;

export const cluster_nats_check = defineModule({
  name: 'cluster_nats_check',
  argsSchema: checkArgs,
  async plan(args, ctx) {
    const f = await ctx.facts.read(SERVER_VERSION, args.bin, ctx.become);
    // In check mode the binary staged (or the package installed) by an earlier task is not there yet: the run checks it.
    if (f.missing && ctx.check) return { changed: false, reason: `${args.bin} is not installed yet: checked when the run installs it`, commands: [] };
    if (!f.version) return { changed: false, failed: true, reason: `${args.bin} ${f.missing ? 'is not installed' : `does not answer --version with a version (${f.out || 'no output'})`}`, commands: [] };
    const result = { version: f.version };
    if (args.version && f.version !== args.version) {
      return { changed: false, failed: true, reason: `${args.bin} is nats-server ${f.version}; the inventory pins ${args.version} (cluster.nats_server.version)`, commands: [], result };
    }
    if (args.min_version && compareVersions(f.version, args.min_version) < 0) {
      return { changed: false, failed: true, reason: `${args.bin} is nats-server ${f.version}, older than ${args.min_version}, the oldest membershipd runs on: pin a release with cluster.nats_server (source bundled)`, commands: [], result };
    }
    return { changed: false, reason: `${args.bin} is nats-server ${f.version}`, commands: [], result };
  },
});
