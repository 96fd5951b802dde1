// The lab's one Debian 13 root file system and its offline apt repository,
// built once with debootstrap and cached under CACHE_DIR, keyed by a hash of
// the recipe below: change the recipe and the next `up` builds a new base.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError, run } from './exec.js';
import { CACHE_DIR } from './state.js';
import { cacheRoot, inCache } from '../../src/controller/nats-server/fetch.js';
import { shippedVersions } from '../../src/inventory/nats-releases.js';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Everything that shapes the base. Bump `revision` when the steps in buildBase change. */
export const RECIPE = {
  revision: 2,
  suite: 'trixie',
  variant: 'minbase',
  include: ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'procps', 'ca-certificates', 'sudo'],
  /**
   * Their whole .deb closure goes into the repository the hosts install from
   * (nftables: the chaos play's partitions; libpam-systemd: a user's own
   * systemd manager, for the systemd-user node, which minbase lacks).
   */
  repoPackages: ['nodejs', 'nats-server', 'nftables', 'libpam-systemd'],
  /**
   * Debian's nats-server package of every release unibus ships, from the
   * controller's cache (scripts/setup-tests.sh fetches them, sha256-pinned),
   * beside the suite's own: `source: debian` with a version installs the
   * one it pins, without one apt picks the newest.
   */
  repoReleases: shippedVersions(),
  /**
   * Timers debootstrap enabled: apt-daily* would take the dpkg lock in the
   * middle of a deploy's package task, and the rest do nothing useful here.
   */
  removeWants: [
    'timers.target.wants/apt-daily.timer',
    'timers.target.wants/apt-daily-upgrade.timer',
    'timers.target.wants/dpkg-db-backup.timer',
    'timers.target.wants/fstrim.timer',
  ],
  repoSource: 'deb [trusted=yes] file:/srv/repo ./',
};

export interface Base {
  hash: string;
  dir: string;
  rootfs: string;
  repo: string;
}

export function recipeHash(): string {
  return createHash('sha256').update(JSON.stringify(RECIPE)).digest('hex').slice(0, 16);
}

function paths(dir: string, hash: string): Base {
  return { hash, dir, rootfs: join(dir, 'rootfs'), repo: join(dir, 'repo') };
}

export function currentBase(): Base {
  const hash = recipeHash();
  return paths(join(CACHE_DIR, `base-${hash}`), hash);
}

function log(msg: string): void {
  process.stderr.write(`lab: ${msg}\n`);
}

/** Returns the cached base for the current recipe, building it when missing. Caller holds the lab lock. */
export async function ensureBase(): Promise<Base> {
  const base = currentBase();
  if (existsSync(join(base.dir, 'complete'))) return base;
  mkdirSync(CACHE_DIR, { recursive: true, mode: 0o755 });
  for (const name of readdirSync(CACHE_DIR)) {
    // A build that died half way (we hold the lock, so nobody else is building).
    if (name.includes('.build-')) rmSync(join(CACHE_DIR, name), { recursive: true, force: true });
  }
  const tmp = paths(`${base.dir}.build-${process.pid}`, base.hash);
  const started = Date.now();
  try {
    await buildBase(tmp);
  } catch (err) {
    await run(['umount', join(tmp.rootfs, 'srv/repo')], { allowFail: true });
    rmSync(tmp.dir, { recursive: true, force: true });
    throw err;
  }
  writeFileSync(join(tmp.dir, 'recipe.json'), JSON.stringify(RECIPE, null, 2) + '\n');
  writeFileSync(join(tmp.dir, 'complete'), `${new Date().toISOString()}\n`);
  renameSync(tmp.dir, base.dir);
  log(`base ${base.hash} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return base;
}

async function buildBase(b: Base): Promise<void> {
  const mirror = (await run(['bash', join(PROJECT_ROOT, 'scripts/debian-mirror.sh')])).stdout.trim();
  mkdirSync(b.repo, { recursive: true });
  log(`debootstrap ${RECIPE.suite} (${RECIPE.variant}) into ${b.rootfs}`);
  await run(
    ['debootstrap', `--variant=${RECIPE.variant}`, `--include=${RECIPE.include.join(',')}`, RECIPE.suite, b.rootfs, mirror],
    { timeoutMs: 15 * 60_000 },
  );
  const apt = ['chroot', b.rootfs, 'apt-get', '-q', '-y'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' };
  const archives = join(b.rootfs, 'var/cache/apt/archives');
  // debootstrap leaves its own .debs behind: only the closure belongs in the repository.
  for (const f of readdirSync(archives)) if (f.endsWith('.deb')) rmSync(join(archives, f));
  log(`gathering the .deb closure of ${RECIPE.repoPackages.join(', ')}`);
  await run([...apt, 'update'], { env, timeoutMs: 5 * 60_000 });
  await run([...apt, 'install', '--download-only', ...RECIPE.repoPackages], { env, timeoutMs: 10 * 60_000 });
  const debs = readdirSync(archives).filter((f) => f.endsWith('.deb'));
  if (!debs.some((f) => f.startsWith('nats-server_'))) throw new LabError('the .deb closure holds no nats-server package');
  for (const f of debs) renameSync(join(archives, f), join(b.repo, f));
  for (const v of RECIPE.repoReleases) {
    // The lab's hosts run this machine's architecture (debootstrap builds its own).
    const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    const c = inCache(cacheRoot(), v, arch);
    if (!c) throw new LabError(`nats-server ${v} (${arch}) is not in the cache: run 'bash scripts/setup-tests.sh', which fetches it`);
    copyFileSync(c.deb, join(b.repo, c.deb.split('/').pop()!));
  }
  const scan = await run(['dpkg-scanpackages', '-m', '.', '/dev/null'], { cwd: b.repo, timeoutMs: 120_000 });
  writeFileSync(join(b.repo, 'Packages'), scan.stdout);

  // From here on the hosts know only the local repository: no source that would fail offline.
  rmSync(join(b.rootfs, 'etc/apt/sources.list'), { force: true });
  const parts = join(b.rootfs, 'etc/apt/sources.list.d');
  for (const f of readdirSync(parts)) rmSync(join(parts, f));
  writeFileSync(join(parts, 'unibus-lab.list'), RECIPE.repoSource + '\n');
  rmSync(join(b.rootfs, 'var/lib/apt/lists'), { recursive: true, force: true });
  mkdirSync(join(b.rootfs, 'var/lib/apt/lists/partial'), { recursive: true });
  const bound = join(b.rootfs, 'srv/repo');
  mkdirSync(bound, { recursive: true });
  await run(['mount', '--bind', '-o', 'ro', b.repo, bound]);
  try {
    await run([...apt, 'update'], { env, timeoutMs: 120_000 });
  } finally {
    await run(['umount', bound]);
  }

  // Per-host identity is made for each host; the base must carry none.
  for (const f of readdirSync(join(b.rootfs, 'etc/ssh'))) {
    if (f.startsWith('ssh_host_')) rmSync(join(b.rootfs, 'etc/ssh', f));
  }
  writeFileSync(join(b.rootfs, 'etc/machine-id'), '');
  rmSync(join(b.rootfs, 'var/lib/dbus/machine-id'), { force: true });
  for (const w of RECIPE.removeWants) rmSync(join(b.rootfs, 'etc/systemd/system', w), { force: true });
  // The build machine's resolver is not reachable from a lab host.
  writeFileSync(join(b.rootfs, 'etc/resolv.conf'), '# lab hosts have no resolver: names are in /etc/hosts\n');
}

/** Removes cached bases of older recipes. Only call when no lab is running. */
export function pruneBases(): void {
  if (!existsSync(CACHE_DIR)) return;
  const keep = `base-${recipeHash()}`;
  for (const name of readdirSync(CACHE_DIR)) {
    if (name.startsWith('base-') && name !== keep) rmSync(join(CACHE_DIR, name), { recursive: true, force: true });
  }
}
