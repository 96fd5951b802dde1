// Real nats-server processes for tests and benches, the way nats.js's harness
// runs them: start from a config file, wait for readiness racing an early
// exit (always bounded), stop by PID, and keep the log so a test can wait for
// a line (e.g. a refused TLS handshake). Configs are written by the test
// (any options: TLS, routes...) or rendered by the daemon's own renderer
// (src/daemon/nats/conf.ts, TestNatsServer below). Every server started here
// is also killed when the test process exits.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { renderNatsConf, type AllowUser, type NatsConf } from '../../src/daemon/nats/conf.js';
import { cachedPaths, cacheRoot } from '../../src/controller/nats-server/fetch.js';
import { debianArch, DEFAULT_NATS_SERVER } from '../../src/inventory/nats-releases.js';
import { sleep } from '../../src/util/time.js';
import { freePort } from './ports.js';

/**
 * The nats-server tests run: $NATS_SERVER_BIN, else the release a cluster
 * runs by default (DEFAULT_NATS_SERVER), from the cache that
 * scripts/setup-tests.sh fills (the same file `play bringup` ships).
 */
export const NATS_BIN = process.env.NATS_SERVER_BIN ?? defaultReleaseBin();

function defaultReleaseBin(): string {
  const bin = cachedPaths(cacheRoot(), DEFAULT_NATS_SERVER, debianArch(process.arch) ?? 'amd64').bin;
  if (!existsSync(bin)) throw new Error(`nats-server ${DEFAULT_NATS_SERVER} is not in ${bin}: run bash scripts/setup-tests.sh (or set NATS_SERVER_BIN)`);
  return bin;
}

/** The most of a server's log kept in memory (the newest part). */
const LOG_CAP = 1 << 20;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) {
    if (c.pid && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
});

/** `nats-server -t`: throws with the server's own words when the config is invalid. */
export function checkConfig(configFile: string, bin = NATS_BIN): void {
  const r = spawnSync(bin, ['-t', '-c', configFile], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`nats-server -t ${configFile} failed: ${r.stderr || r.stdout || r.error}`);
}

export interface NatsServerOptions {
  configFile: string;
  /** http://host:port of the `http:` monitor listener in the config. */
  monitorUrl: string;
  /** The monitor path that answers 2xx once the server is ready (default /healthz). */
  readyPath?: string;
  /** Bound on readiness (default 20 s). */
  timeoutMs?: number;
  bin?: string;
}

/**
 * One nats-server process run from a config file. start() may be called
 * again once it has stopped or been killed: a restart from the same config.
 */
export class NatsServer {
  child: ChildProcess | null = null;
  #log = '';
  #exited: Promise<void> = Promise.resolve();
  #spawnError: Error | null = null;

  constructor(readonly opts: NatsServerOptions) {}

  get configFile(): string {
    return this.opts.configFile;
  }
  get monitorUrl(): string {
    return this.opts.monitorUrl;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  /** True while the process started last has not exited. */
  get running(): boolean {
    const c = this.child;
    return !!c && c.exitCode === null && c.signalCode === null && !this.#spawnError;
  }

  /** Everything the server logged since its last start (stdout and stderr; the newest 1 MB). */
  log(): string {
    return this.#log;
  }
  /** The last 4 KB of the log, for failure messages. */
  get tail(): string {
    return this.#log.slice(-4000);
  }

  /** Spawns the server and resolves once readyPath answers; rejects if it exits first or is not ready in time. */
  async start(timeoutMs = this.opts.timeoutMs ?? 20_000): Promise<void> {
    const child = spawn(this.opts.bin ?? NATS_BIN, ['-c', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.#log = '';
    this.#spawnError = null;
    live.add(child);
    const append = (b: Buffer) => {
      this.#log += b.toString();
      if (this.#log.length > LOG_CAP) this.#log = this.#log.slice(-LOG_CAP);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    this.#exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        this.#spawnError = err;
        live.delete(child);
        resolve();
      });
      child.once('exit', () => {
        live.delete(child);
        resolve();
      });
    });

    const readyPath = this.opts.readyPath ?? '/healthz';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`nats-server exited during start (${this.#howEnded()}):\n${this.tail}`);
      try {
        await this.monitor(readyPath);
        return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`nats-server not ready within ${timeoutMs} ms:\n${this.tail}`);
      }
      await Promise.race([sleep(50), this.#exited]);
    }
  }

  #howEnded(): string {
    const c = this.child;
    return this.#spawnError ? this.#spawnError.message : `code ${c?.exitCode}, signal ${c?.signalCode}`;
  }

  /** GET a monitor endpoint (e.g. '/routez') as JSON; bounded. */
  async monitor<T = Record<string, unknown>>(path: string): Promise<T> {
    const res = await fetch(this.monitorUrl + path, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }

  /** Resolves when the log matches `re`; rejects after `waitMs` or if the server exits. */
  async waitForLog(re: RegExp, waitMs = 10_000): Promise<RegExpMatchArray> {
    const end = Date.now() + waitMs;
    for (;;) {
      const m = this.#log.match(re);
      if (m) return m;
      if (!this.running) throw new Error(`nats-server exited while waiting for ${re}:\n${this.#log}`);
      if (Date.now() > end) throw new Error(`no log line matching ${re} within ${waitMs} ms:\n${this.#log}`);
      await sleep(50);
    }
  }

  /** Sends `sig` to the running server (by its PID); false when none runs. */
  signal(sig: NodeJS.Signals): boolean {
    if (!this.running || !this.child?.pid) return false;
    process.kill(this.child.pid, sig);
    return true;
  }

  /** Sends `sig` and waits for the exit, at most waitMs; true once it is gone. */
  async #stopWith(sig: NodeJS.Signals, waitMs: number): Promise<boolean> {
    if (!this.running) return true;
    this.child!.kill(sig);
    return Promise.race([this.#exited.then(() => true), sleep(waitMs).then(() => false)]);
  }

  /** SIGKILL: a crash, no lame duck. */
  async kill(): Promise<void> {
    await this.#stopWith('SIGKILL', 5000);
  }

  /** SIGTERM, a bounded wait (default 10 s), then SIGKILL. */
  async stop(waitMs = 10_000): Promise<void> {
    if (!(await this.#stopWith('SIGTERM', waitMs))) await this.kill();
  }
}

/** Starts a nats-server from any config file; resolves once it is ready. */
export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServer> {
  const s = new NatsServer(opts);
  await s.start();
  return s;
}

/**
 * A nats-server whose config is rendered from a NatsConf by the daemon's own
 * renderer into `dir`/nats.conf (again at every start, so a test may change
 * `conf` between runs). Ready when JetStream is.
 */
export class TestNatsServer extends NatsServer {
  constructor(
    public conf: NatsConf,
    readonly dir: string,
  ) {
    super({ configFile: join(dir, 'nats.conf'), monitorUrl: '', readyPath: '/healthz?js-enabled-only=true', timeoutMs: 30_000 });
  }

  get confFile(): string {
    return this.configFile;
  }
  override get monitorUrl(): string {
    return `http://127.0.0.1:${this.conf.monitorPort}`;
  }
  get url(): string {
    return `nats://${this.conf.host}:${this.conf.port}`;
  }

  override async start(timeoutMs?: number): Promise<void> {
    await writeFile(this.confFile, renderNatsConf(this.conf), { mode: 0o600 });
    await super.start(timeoutMs);
  }

  /** Re-renders with a new allowlist and reloads (SIGHUP), as the node supervisor does. */
  /** Rewrites the allow list and returns once the server has loaded it (its /varz config_load_time moves; bounded 5 s): a SIGHUP alone returns before the reload, and a connect right after met the old list. */
  async setAllowlist(users: AllowUser[]): Promise<void> {
    this.conf = { ...this.conf, allowlist: users };
    await writeFile(this.confFile, renderNatsConf(this.conf), { mode: 0o600 });
    const loadedAt = async () => (await this.monitor<{ config_load_time: string }>('/varz')).config_load_time;
    const before = await loadedAt();
    this.signal('SIGHUP');
    for (const until = Date.now() + 5_000; ; await sleep(20)) {
      if ((await loadedAt()) !== before) return;
      if (Date.now() > until) throw new Error(`nats-server ${this.conf.serverName} did not reload its config within 5 s`);
    }
  }
}

export interface ClusterOptions {
  hosts: string[];
  /** The internal identity's public nkey (full rights); null = no authorization block. */
  internalNkey: string | null;
  allowlist?: AllowUser[];
  syncInterval?: string;
}

/** Builds (does not start) one server per host; a single host gets no cluster block. */
export async function makeServers(o: ClusterOptions): Promise<TestNatsServer[]> {
  const clusterPorts = await Promise.all(o.hosts.map((h) => freePort(h)));
  const out: TestNatsServer[] = [];
  for (const [i, host] of o.hosts.entries()) {
    const dir = await mkdtemp(join(tmpdir(), 'unibus-nats-'));
    const conf: NatsConf = {
      serverName: `n${i + 1}`,
      host,
      port: await freePort(host),
      monitorPort: await freePort('127.0.0.1'),
      storeDir: join(dir, 'js'),
      syncInterval: o.syncInterval ?? 'always',
      internalNkey: o.internalNkey,
      allowlist: o.allowlist ?? [],
      lameDuckDuration: '30s',
      lameDuckGracePeriod: '1s',
      cluster:
        o.hosts.length > 1
          ? {
              name: 'unibus-test',
              host,
              port: clusterPorts[i],
              routes: o.hosts.flatMap((h, j) => (j === i ? [] : [`nats-route://${h}:${clusterPorts[j]}`])),
            }
          : undefined,
    };
    out.push(new TestNatsServer(conf, dir));
  }
  return out;
}

/**
 * Starts every server; a cluster must form fully. On a loaded machine a cold
 * cluster sometimes settles on a 2-peer meta group that never takes the third
 * node in; then the whole cluster is started again from empty stores (bounded).
 */
export async function startServers(servers: TestNatsServer[], attempts = 3): Promise<void> {
  for (let i = 1; ; i++) {
    await Promise.all(servers.map((s) => s.start()));
    if (servers.length === 1) return;
    try {
      await waitClusterFormed(servers, 20_000);
      return;
    } catch (err) {
      if (i >= attempts) throw err;
      process.stderr.write(`# cluster did not form (attempt ${i}), starting it again: ${(err as Error).message.split('\n')[0]}\n`);
      await Promise.all(servers.map((s) => s.kill()));
      await Promise.all(servers.map((s) => rm(s.conf.storeDir, { recursive: true, force: true })));
    }
  }
}

/** Every node routed to every other and a meta leader over all of them, bounded. */
export async function waitClusterFormed(servers: TestNatsServer[], timeoutMs = 30_000): Promise<void> {
  const n = servers.length;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const views = await Promise.all(
        servers.map(async (s) => {
          const r = await s.monitor<{ num_routes: number }>('/routez');
          const j = await s.monitor<{ meta_cluster?: { leader?: string; cluster_size?: number } }>('/jsz');
          return { routes: r.num_routes, leader: j.meta_cluster?.leader, size: j.meta_cluster?.cluster_size };
        }),
      );
      last = JSON.stringify(views);
      if (views.every((v) => v.routes >= n - 1 && v.leader && v.size === n)) return;
    } catch (err) {
      last = String(err);
    }
    await sleep(200);
  }
  throw new Error(`cluster not formed within ${timeoutMs} ms: ${last}\n${servers.map((s) => `${s.conf.serverName}: ${s.tail.slice(-800)}`).join('\n')}`);
}

/** Stops every server and removes its folder; safe to call twice and after failures. */
export async function stopServers(servers: TestNatsServer[]): Promise<void> {
  await Promise.all(
    servers.map(async (s) => {
      await s.stop().catch(() => s.kill());
      await rm(s.dir, { recursive: true, force: true });
    }),
  );
}
