// The nats-server binary of a pinned release (inventory/nats-releases.ts), on the
// controller: taken from the cache when its sha256 is the pinned one, else
// Debian's package fetched from the mirror, checked, and its binary taken out
// with dpkg-deb. Nothing touches the machine's apt configuration or installs
// a package (Debian's package would also enable its own nats-server.service).
//
// Invariants:
// - A file in the cache is used only when its sha256 is the pinned one; a
//   package or binary with any other digest is refused, named, and not kept.
// - Files land in the cache by rename from a temp name in the same folder:
//   a run cut short leaves the old state or none, never half a binary.
// - Every download and extraction is time-bounded.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { UNIBUS_ROOT } from '../paths.js';
import { sha256Hex } from '../../util/hash.js';
import { RELEASES, shippedVersions, type Arch } from '../../inventory/nats-releases.js';

const run = promisify(execFile);
const DOWNLOAD_MS = 120_000;

/** Where fetched releases are kept: $UNIBUS_CACHE_DIR, else $XDG_CACHE_HOME/unibus, else ~/.cache/unibus. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.UNIBUS_CACHE_DIR) return env.UNIBUS_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'unibus');
}

export interface Fetched {
  /** The binary, 0755. */
  path: string;
  /** The package it came from (kept beside it, for an offline repository). */
  deb: string;
  version: string;
  arch: Arch;
  /** False when the cache already held it. */
  fetched: boolean;
}

/** The release as the cache holds it, or null unless its binary has the pinned digest and its package is beside it. */
export function inCache(root: string, version: string, arch: Arch): Fetched | null {
  const p = cachedPaths(root, version, arch);
  const ok = existsSync(p.bin) && existsSync(p.deb) && sha256Hex(readFileSync(p.bin)) === RELEASES[version]!.files[arch].binSha256;
  return ok ? { path: p.bin, deb: p.deb, version, arch, fetched: false } : null;
}

/** The Debian mirror: $UNIBUS_DEBIAN_MIRROR, else the one this machine's apt sources use (scripts/debian-mirror.sh). */
export async function debianMirror(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.UNIBUS_DEBIAN_MIRROR) return env.UNIBUS_DEBIAN_MIRROR.replace(/\/+$/, '');
  const { stdout } = await run('bash', [join(UNIBUS_ROOT, 'scripts', 'debian-mirror.sh')], { timeout: 10_000 });
  return stdout.trim();
}

async function download(url: string): Promise<Buffer> {
  if (url.startsWith('file://')) return readFileSync(new URL(url));
  const r = await fetch(url, { signal: AbortSignal.timeout(DOWNLOAD_MS) }).catch((e: Error) => {
    // fetch says only "fetch failed": the cause (refused, DNS, timeout) is what an operator can act on.
    throw new Error(`${url}: ${(e.cause as Error | undefined)?.message ?? e.message}`, { cause: e });
  });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

/** The paths a release has in the cache (present or not). */
export function cachedPaths(root: string, version: string, arch: Arch): { dir: string; bin: string; deb: string } {
  const rel = RELEASES[version];
  if (!rel) throw new Error(`nats-server ${version} is not a release unibus ships (it ships ${shippedVersions().join(', ')})`);
  const dir = join(root, 'nats-server', version, arch);
  return { dir, bin: join(dir, 'nats-server'), deb: join(dir, basename(rel.files[arch].deb)) };
}

/**
 * The binary of `version` for `arch`, fetched into the cache when it is not
 * there with its pinned digest. Throws, naming the URL and both digests,
 * when the mirror serves anything else.
 */
export async function ensureRelease(version: string, arch: Arch, opts: { root?: string; mirror?: string } = {}): Promise<Fetched> {
  const root = opts.root ?? cacheRoot();
  const p = cachedPaths(root, version, arch);
  const file = RELEASES[version]!.files[arch];
  const cached = inCache(root, version, arch);
  if (cached) return cached;
  const mirror = opts.mirror ?? (await debianMirror());
  const url = `${mirror}/${file.deb.split('/').map(encodeURIComponent).join('/')}`;
  const body = await download(url);
  const got = sha256Hex(body);
  if (got !== file.debSha256) throw new Error(`${url}: sha256 ${got}, expected ${file.debSha256} (nats-server ${version} ${arch}); nothing kept`);
  mkdirSync(p.dir, { recursive: true, mode: 0o755 });
  const tmp = mkdtempSync(join(p.dir, '.fetch-'));
  try {
    const deb = join(tmp, basename(p.deb));
    writeFileSync(deb, body, { mode: 0o644 });
    await run('dpkg-deb', ['-x', deb, join(tmp, 'x')], { timeout: 60_000 });
    const bin = join(tmp, 'x', 'usr', 'sbin', 'nats-server');
    if (!existsSync(bin)) throw new Error(`${url}: no usr/sbin/nats-server in the package`);
    const binSum = sha256Hex(readFileSync(bin));
    if (binSum !== file.binSha256) throw new Error(`${url}: usr/sbin/nats-server has sha256 ${binSum}, expected ${file.binSha256}; nothing kept`);
    renameSync(deb, p.deb);
    const staged = join(tmp, 'nats-server');
    renameSync(bin, staged);
    // 0755 before it takes the final name: nobody sees it without its mode.
    chmodSync(staged, 0o755);
    renameSync(staged, p.bin);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { path: p.bin, deb: p.deb, version, arch, fetched: true };
}
