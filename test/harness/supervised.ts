// Three nats-servers, each run by its own NatsSupervisor as membershipd runs
// its child, clustered on loopback: for tests of what the supervisor does to
// a damaged copy (runaway.test.ts, scrub.test.ts).
import { join } from 'node:path';
import { NatsSupervisor } from '../../src/daemon/nats/supervisor.js';
import { Secret } from '../../src/secret.js';
import { NATS_BIN } from './nats-server.js';
import { freePort } from './ports.js';

export interface SupervisedThree {
  ports: { client: number; monitor: number; route: number }[];
  /** Each node's log lines, as its supervisor gave them. */
  lines: string[][];
  /** A new supervisor for node i (not started), on the same ports and store. */
  supervisor: (i: number) => NatsSupervisor;
  /** Every node's client URL. */
  urls: string[];
}

export async function superviseThree(dir: string, cluster: string, extra: { maxRssBytes?: number; silentMs?: number } = {}): Promise<SupervisedThree> {
  const ports = await Promise.all([0, 1, 2].map(async () => ({ client: await freePort(), monitor: await freePort(), route: await freePort() })));
  const lines: string[][] = [[], [], []];
  const supervisor = (i: number) =>
    new NatsSupervisor({
      bin: NATS_BIN,
      confFile: join(dir, `n${i}.conf`),
      debug: false,
      log: (l) => lines[i]!.push(l),
      ...extra,
      conf: {
        serverName: `n${i}`,
        host: '127.0.0.1',
        port: ports[i]!.client,
        monitorPort: ports[i]!.monitor,
        storeDir: join(dir, `n${i}`),
        syncInterval: '2m',
        internalNkey: null,
        allowlist: [],
        lameDuckDuration: '30s',
        lameDuckGracePeriod: '1s',
        cluster: {
          name: cluster,
          host: '127.0.0.1',
          port: ports[i]!.route,
          routes: ports.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p.route}`),
          auth: { user: 'route', pass: new Secret(`${cluster}-route-pass`) },
        },
      },
    });
  return { ports, lines, supervisor, urls: ports.map((p) => `nats://127.0.0.1:${p.client}`) };
}
