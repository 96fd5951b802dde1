// Start a real nats-server from any config file for tests: spawn, wait for
// /healthz while racing an early exit, always bounded, stop by PID, and keep
// its log so a test can wait for a line (e.g. a refused TLS handshake). Every
// server started here is also killed when the test process exits.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/local/bin/nats-server';

export interface NatsServerOptions {
  configFile: string;
  /** http://host:port of the `http:` monitor listener in the config. */
  monitorUrl: string;
  /** Bound on readiness (default 20 s). */
  timeoutMs?: number;
  bin?: string;
}

export interface NatsServer {
  pid: number;
  monitorUrl: string;
  /** Everything the server logged so far (stdout and stderr). */
  log(): string;
  /** Resolve when the log matches `re`; reject after `timeoutMs` or if the server exits. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** GET a monitor endpoint (e.g. '/routez') as JSON. */
  monitor<T = Record<string, unknown>>(path: string): Promise<T>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) {
    if (c.pid && c.exitCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
});

import { freePort } from '../helpers/ports.js';
import { sleep } from '../../src/util/time.js';
export { freePort };

/** `nats-server -t`: throws with the server's own words when the config is invalid. */
export function checkConfig(configFile: string, bin = NATS_SERVER_BIN): void {
  const r = spawnSync(bin, ['-t', '-c', configFile], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`nats-server -t ${configFile} failed: ${r.stderr || r.stdout || r.error}`);
}


export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServer> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const child = spawn(opts.bin ?? NATS_SERVER_BIN, ['-c', opts.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  let gone = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      gone = true;
      live.delete(child);
      resolve();
    }),
  );

  const stop = async () => {
    if (gone || !child.pid) return;
    process.kill(child.pid, 'SIGTERM');
    if ((await Promise.race([exited.then(() => 'exited'), sleep(5_000).then(() => 'timeout')])) === 'timeout' && !gone) {
      process.kill(child.pid, 'SIGKILL');
      await Promise.race([exited, sleep(2_000)]);
    }
  };

  const monitor = async <T,>(path: string): Promise<T> => {
    const res = await fetch(opts.monitorUrl + path, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) throw new Error(`nats-server exited early (code ${child.exitCode}):\n${log}`);
    try {
      await monitor('/healthz');
      break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nats-server not ready within ${timeoutMs} ms:\n${log}`);
    }
    await Promise.race([sleep(50), exited]);
  }

  return {
    pid: child.pid!,
    monitorUrl: opts.monitorUrl,
    log: () => log,
    monitor,
    stop,
    async waitForLog(re, waitMs = 10_000) {
      const end = Date.now() + waitMs;
      for (;;) {
        const m = log.match(re);
        if (m) return m;
        if (gone) throw new Error(`nats-server exited while waiting for ${re}:\n${log}`);
        if (Date.now() > end) throw new Error(`no log line matching ${re} within ${waitMs} ms:\n${log}`);
        await sleep(50);
      }
    },
  };
}
