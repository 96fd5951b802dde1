// The pinned nats-server: Debian's real packages (from the cache that
// scripts/setup-tests.sh fills, as `play bringup` does) served by a mirror on
// loopback, fetched into an empty cache, checked by sha256, their binary run;
// a package or binary with another digest refused with nothing kept; and the
// two modules' plans (the controller's cache, the node's `--version`).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cachedPaths, cacheRoot, ensureRelease } from '../../src/controller/nats-server/fetch.js';
import { compareVersions, debianArch, DEFAULT_NATS_SERVER, parseServerVersion, RELEASES, shippedVersions, type Arch } from '../../src/inventory/nats-releases.js';
import { cluster_nats_check, cluster_nats_release } from '../../src/modules/cluster/nats-server.js';
import { DirectReader } from '../../src/modules/facts/read.js';
import { LazyLocalTransport } from '../../src/transport/connect.js';
import { FakeTransport } from '../harness/fake-transport.js';
import { makeCtx, sha256 } from './helpers.js';

const ARCH: Arch = debianArch(process.arch) ?? 'amd64';
const work = mkdtempSync(join(tmpdir(), 'unibus-nats-release-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** The real package of `version`, from the shared cache (a missing one is a set-up error, not a skip). */
function realDeb(version: string): Buffer {
  const p = cachedPaths(cacheRoot(), version, ARCH).deb;
  assert.ok(existsSync(p), `${p} is missing: run bash scripts/setup-tests.sh`);
  return readFileSync(p);
}

describe('releases', () => {
  it('the default is a shipped release, each pinned for both architectures; versions compare as numbers', () => {
    assert.ok(RELEASES[DEFAULT_NATS_SERVER]);
    for (const v of shippedVersions()) for (const a of ['amd64', 'arm64'] as const) assert.match(RELEASES[v]!.files[a].debSha256, /^[0-9a-f]{64}$/);
    assert.equal(compareVersions('2.10.27', '2.15.1'), -1);
    assert.equal(compareVersions('2.9.10', '2.10.0'), -1);
    assert.equal(compareVersions('2.15.1', '2.15.1'), 0);
    assert.deepEqual(shippedVersions(), ['2.10.27', '2.15.1']);
    assert.equal(parseServerVersion('nats-server: v2.15.1\n'), '2.15.1');
    assert.equal(debianArch('x86_64'), 'amd64');
    assert.equal(debianArch('aarch64'), 'arm64');
    assert.equal(debianArch('riscv64'), null);
  });
});

describe('fetch from a Debian mirror on loopback', () => {
  let server: Server;
  let mirror: string;
  const requests: string[] = [];
  /** What the mirror serves per path; a path not here is a 404. */
  const served = new Map<string, Buffer>();
  before(async () => {
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const body = served.get(decodeURIComponent(req.url ?? '').replace(/^\//, ''));
      res.writeHead(body ? 200 : 404).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    mirror = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => server.close());

  it('fetches the default release into an empty cache: package and binary as pinned, the binary runs; a second call fetches nothing', async () => {
    const file = RELEASES[DEFAULT_NATS_SERVER]!.files[ARCH];
    served.set(file.deb, realDeb(DEFAULT_NATS_SERVER));
    const root = join(work, 'a');
    const f = await ensureRelease(DEFAULT_NATS_SERVER, ARCH, { root, mirror });
    assert.equal(f.fetched, true);
    assert.equal(sha256(readFileSync(f.path)), file.binSha256);
    assert.equal(sha256(readFileSync(f.deb)), file.debSha256);
    assert.equal(statSync(f.path).mode & 0o777, 0o755);
    const v = spawnSync(f.path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(parseServerVersion(v.stdout), DEFAULT_NATS_SERVER);
    const n = requests.length;
    const again = await ensureRelease(DEFAULT_NATS_SERVER, ARCH, { root, mirror });
    assert.equal(again.fetched, false);
    assert.equal(requests.length, n, 'the cache answered; the mirror was not asked');
    // No temp folder left beside them.
    assert.deepEqual(readdirSync(join(root, 'nats-server', DEFAULT_NATS_SERVER, ARCH)).sort(), ['nats-server', file.deb.split('/').pop()!].sort());
  });

  it('a cached binary with another digest is fetched again', async () => {
    const root = join(work, 'a');
    const p = cachedPaths(root, DEFAULT_NATS_SERVER, ARCH);
    writeFileSync(p.bin, 'not nats-server');
    const f = await ensureRelease(DEFAULT_NATS_SERVER, ARCH, { root, mirror });
    assert.equal(f.fetched, true);
    assert.equal(sha256(readFileSync(f.path)), RELEASES[DEFAULT_NATS_SERVER]!.files[ARCH].binSha256);
  });

  it('a package with another digest is refused, named with both digests, and nothing is kept', async () => {
    const file = RELEASES['2.10.27']!.files[ARCH];
    const bad = Buffer.from(realDeb('2.10.27'));
    bad[bad.length - 100]! ^= 0xff;
    served.set(file.deb, bad);
    const root = join(work, 'b');
    await assert.rejects(ensureRelease('2.10.27', ARCH, { root, mirror }), (e: Error) => e.message.includes(`expected ${file.debSha256}`) && e.message.includes(mirror));
    assert.equal(existsSync(join(root, 'nats-server', '2.10.27', ARCH)) ? readdirSync(join(root, 'nats-server', '2.10.27', ARCH)).length : 0, 0);
  });

  it('a package the mirror does not have is an error naming its URL', async () => {
    served.clear();
    await assert.rejects(ensureRelease('2.10.27', ARCH, { root: join(work, 'c'), mirror }), /HTTP 404/);
  });

  it('a mirror that refuses the connection is an error naming the URL and why', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    await assert.rejects(ensureRelease('2.10.27', ARCH, { root: join(work, 'e'), mirror: `http://127.0.0.1:${port}` }), new RegExp(`http://127\\.0\\.0\\.1:${port}/pool/.*ECONNREFUSED`));
  });

  it('a release unibus does not ship is refused before anything is fetched', async () => {
    const n = requests.length;
    await assert.rejects(ensureRelease('2.14.0', ARCH, { root: join(work, 'd'), mirror }), /2\.14\.0 is not a release unibus ships \(it ships 2\.10\.27, 2\.15\.1\)/);
    assert.equal(requests.length, n);
  });
});

describe('cluster_nats_release (controller)', () => {
  const env = process.env.UNIBUS_CACHE_DIR;
  after(() => (env === undefined ? delete process.env.UNIBUS_CACHE_DIR : (process.env.UNIBUS_CACHE_DIR = env)));
  const ctx = makeCtx(new FakeTransport('controller'));

  it('a release in the cache with its pinned digest: nothing to do, its path as the result', async () => {
    process.env.UNIBUS_CACHE_DIR = join(work, 'a');
    const plan = await cluster_nats_release.plan({ version: DEFAULT_NATS_SERVER, arch: 'x86_64' }, ctx);
    assert.equal(plan.changed, false, plan.reason);
    assert.equal((plan.result as { path: string }).path, cachedPaths(join(work, 'a'), DEFAULT_NATS_SERVER, 'amd64').bin);
  });

  it('one missing: the fetch step is the command; an architecture or version unibus does not ship fails with what to do', async () => {
    process.env.UNIBUS_CACHE_DIR = join(work, 'empty');
    const plan = await cluster_nats_release.plan({ version: '2.10.27', arch: 'aarch64' }, ctx);
    assert.equal(plan.changed, true);
    const c = plan.commands[0]!;
    assert.ok(c.kind === 'exec' && c.argv.at(-2) === '2.10.27' && c.argv.at(-1) === 'arm64' && c.argv.some((a) => a.includes('steps/nats-server')), JSON.stringify(c));
    const riscv = await cluster_nats_release.plan({ version: '2.10.27', arch: 'riscv64' }, ctx);
    assert.ok(riscv.failed && /not riscv64: use cluster.nats_server.source debian/.test(riscv.reason), riscv.reason);
    const old = await cluster_nats_release.plan({ version: '2.9.10', arch: 'x86_64' }, ctx);
    assert.ok(old.failed && /2\.9\.10 is not a release unibus ships/.test(old.reason), old.reason);
  });
});

describe('cluster_nats_check (node)', () => {
  /** A host whose `<bin> --version` answers `out` with exit `code`. */
  function host(code: number, out: string): FakeTransport {
    const t = new FakeTransport('h1');
    t.on((req) => req.argv[0] === 'sh' && req.argv[3] === 'unibus-nats-version', () => ({ code, stdout: out, stderr: '' }));
    return t;
  }

  it('the real binary, run on this machine: its version is the pinned one', async () => {
    const bin = cachedPaths(join(work, 'a'), DEFAULT_NATS_SERVER, ARCH).bin;
    const t = new LazyLocalTransport('local');
    const real = makeCtx(new FakeTransport('local'), { transport: t, facts: new DirectReader(t) });
    const ok = await cluster_nats_check.plan({ bin, version: DEFAULT_NATS_SERVER, min_version: '2.10.0' }, real);
    assert.equal(ok.failed, undefined, ok.reason);
    assert.deepEqual(ok.result, { version: DEFAULT_NATS_SERVER });
    const other = await cluster_nats_check.plan({ bin, version: '2.10.27' }, real);
    assert.ok(other.failed && other.reason.includes(`is nats-server ${DEFAULT_NATS_SERVER}; the inventory pins 2.10.27`), other.reason);
  });

  it('older than min_version, not installed, or no version in its answer: failed, each saying so; not installed yet in check mode: left to the run', async () => {
    const old = await cluster_nats_check.plan({ bin: 'nats-server', min_version: '2.10.0' }, makeCtx(host(0, 'nats-server: v2.9.10\n')));
    assert.ok(old.failed && /is nats-server 2\.9\.10, older than 2\.10\.0/.test(old.reason), old.reason);
    const missing = await cluster_nats_check.plan({ bin: '/s/bin/2.15.1/nats-server', version: '2.15.1' }, makeCtx(host(127, '')));
    assert.ok(missing.failed && /is not installed/.test(missing.reason), missing.reason);
    const inCheck = await cluster_nats_check.plan({ bin: '/s/bin/2.15.1/nats-server', version: '2.15.1' }, makeCtx(host(127, ''), { check: true }));
    assert.ok(!inCheck.failed && /not installed yet/.test(inCheck.reason), inCheck.reason);
    const garbled = await cluster_nats_check.plan({ bin: 'nats-server' }, makeCtx(host(0, 'hello\n')));
    assert.ok(garbled.failed && /does not answer --version with a version \(hello\)/.test(garbled.reason), garbled.reason);
  });
});
