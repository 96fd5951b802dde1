// Real nats-server processes for tests, the way nats.js's harness runs them:
// start from a rendered config, wait for readiness racing early exit (bounded),
// stop by PID. Configs come from the daemon's own renderer (src/daemon/nats/conf.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderNatsConf, type AllowUser, type NatsConf } from '../../src/daemon/nats/conf.js';

export const NATS_BIN = process.env.NATS_SERVER_BIN ?? '/usr/local/bin/nats-server';

import { freePort } from './ports.js';
import { sleep } from '../../src/util/time.js';
export { freePort };


export class TestNatsServer {
  child: ChildProcess | null = null;
  /** The last 4 KB of the server's log, for failure messages. */
  tail = '';
  constructor(
    public conf: NatsConf,
    readonly dir: string,
  ) {}

  get confFile(): string {
    return join(this.dir, 'nats.conf');
  }
  get url(): string {
    return `nats://${this.conf.host}:${this.conf.port}`;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    await writeFile(this.confFile, renderNatsConf(this.conf), { mode: 0o600 });
    const child = spawn(NATS_BIN, ['-c', this.confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.tail = '';
    child.stderr!.on('data', (c: Buffer) => (this.tail = (this.tail + c.toString()).slice(-4000)));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nats-server exited during start: ${this.tail}`);
      try {
        const r = await fetch(`http://127.0.0.1:${this.conf.monitorPort}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(1000) });
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    await this.kill();
    throw new Error(`nats-server not ready within ${timeoutMs} ms: ${this.tail}`);
  }

  /** Re-renders with a new allowlist and reloads (SIGHUP), as the node supervisor does. */
  async setAllowlist(users: AllowUser[]): Promise<void> {
    this.conf = { ...this.conf, allowlist: users };
    await writeFile(this.confFile, renderNatsConf(this.conf), { mode: 0o600 });
    if (this.child?.pid && this.child.exitCode === null) process.kill(this.child.pid, 'SIGHUP');
  }

  async #signal(sig: NodeJS.Signals, waitMs: number): Promise<boolean> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return true;
    const gone = new Promise<boolean>((r) => c.once('exit', () => r(true)));
    c.kill(sig);
    return Promise.race([gone, sleep(waitMs).then(() => false)]);
  }

  /** SIGKILL: a crash, no lame duck. */
  async kill(): Promise<void> {
    await this.#signal('SIGKILL', 5000);
  }

  async stop(): Promise<void> {
    if (!(await this.#signal('SIGTERM', 10_000))) await this.kill();
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
          const get = async (p: string) => (await fetch(`http://127.0.0.1:${s.conf.monitorPort}${p}`, { signal: AbortSignal.timeout(1000) })).json();
          const r = (await get('/routez')) as { num_routes: number };
          const j = (await get('/jsz')) as { meta_cluster?: { leader?: string; cluster_size?: number } };
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
