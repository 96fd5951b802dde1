// Fetches a pinned nats-server release into the controller's cache (see
// nats-server/fetch.ts): `nats-server.ts <version> <arch>`. Its verdict line
// carries the binary's path for the tasks that stage it.
import { ensureRelease } from '../nats-server/fetch.js';
import type { Arch } from '../../inventory/nats-releases.js';
import { printVerdict } from './step.js';

const [version, arch] = process.argv.slice(2) as [string, Arch];
ensureRelease(version, arch).then(
  (f) => process.exit(printVerdict({ reason: `nats-server ${f.version} (${f.arch}) ${f.fetched ? 'fetched into' : 'already in'} ${f.path}`, result: { path: f.path, deb: f.deb, version: f.version, arch: f.arch } })),
  (e: Error) => {
    process.stderr.write(`nats-server: ${e.message}\n`);
    process.exit(1);
  },
);
