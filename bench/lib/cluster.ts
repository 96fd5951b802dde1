// A real 3-node membershipd cluster on loopback for benches: each node its
// own process (the bundle and node flags a deploy installs), its own nats-server child, TLS on
// the data plane and mutual TLS on routes, sync_interval always (the default).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { freePort } from '../../test/harness/ports.js';
import { makeCa, makeLeaf } from '../../test/harness/certs.js';
import { isNonceStore, type NonceStore } from '../../src/daemon/store/buckets.js';
import { spawnDaemon, type Daemon } from '../../test/harness/membershipd.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return;
    await sleep(25);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

export const healthy = async (url: string) => (await fetch(url, { signal: AbortSignal.timeout(1000) })).status === 200;

export interface Run {
  dir: string;
  names: string[];
  hosts: string[];
  daemons: Daemon[];
  clientCa: string;
}

export async function startCluster(hosts: string[], pki: string, passFile: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-bench-'));
  const routeCa = makeCa(pki, 'route-ca');
  const clientCa = makeCa(pki, 'client-ca');
  const ports = await Promise.all(hosts.map(async (h) => ({ http: await freePort(h), nats: await freePort(h), cluster: await freePort(h) })));
  const names = hosts.map((_, i) => `b${i + 1}`);
  const daemons = hosts.map((h, i) => {
    const route = makeLeaf(routeCa, `${names[i]}-route`, [h]);
    const srv = makeLeaf(clientCa, `${names[i]}-client`, [h], 'serverAuth');
    const routes = hosts.flatMap((x, j) => (j === i ? [] : [`nats-route://${x}:${ports[j].cluster}`])).join(',');
    return spawnDaemon(
      ['--bind', h, '--http-port', String(ports[i].http), '--nats-port', String(ports[i].nats), '--cluster-port', String(ports[i].cluster),
        '--server-name', names[i], '--cluster-name', 'bench', '--routes', routes, '--cluster-pass-file', passFile, '--kv-replicas', '3',
        '--route-tls-cert', route.cert, '--route-tls-key', route.key, '--route-tls-ca', routeCa.cert,
        '--tls-cert', srv.cert, '--tls-key', srv.key, '--tls-ca', clientCa.cert, ...extra],
      { stateDir: join(dir, names[i]), http: `http://${h}:${ports[i].http}`, env },
    );
  });
  return { dir, names, hosts, daemons, clientCa: clientCa.cert };
}

export async function allHealthy(run: Run, timeoutMs = 120_000): Promise<void> {
  await until('membershipd healthz', async () => (await Promise.all(run.daemons.map((d) => healthy(`${d.http}/healthz`)))).every(Boolean), timeoutMs);
}

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A bare nats.js client with node i's internal identity, over the same TLS as membershipd's own connection. */
/** The client address (host:port) a node's nats-server listens on, from the nats.conf in its state dir. */
export function natsListen(nodeDir: string): string {
  const m = /^listen: "([^"]+)"/m.exec(readFileSync(join(nodeDir, 'nats.conf'), 'utf8'));
  if (!m) throw new Error(`${join(nodeDir, 'nats.conf')}: no listen line`);
  return m[1];
}

export async function internalConnect(run: Run, i: number): Promise<NatsConnection> {
  const seed = (await readFile(join(run.dir, run.names[i], 'internal.nk'), 'utf8')).trim();
  const listen = natsListen(join(run.dir, run.names[i]));
  const host = listen.split(':')[0];
  const tls = { ca: await readFile(run.clientCa, 'utf8'), checkServerIdentity: (_n: string, c: PeerCertificate) => checkServerIdentity(host, c) };
  return connect({ servers: listen, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)), timeout: 5000, tls, noAsyncTraces: true });
}

/** NONCE_STORE from the environment (disk or memory), `fallback` when unset. */
export function nonceStoreEnv(fallback: NonceStore): NonceStore {
  const v = process.env.NONCE_STORE ?? fallback;
  if (!isNonceStore(v)) throw new Error(`NONCE_STORE: expected disk or memory, got ${v}`);
  return v;
}

/** The node flags a deploy gives membershipd (roles/unibus_node/defaults.yaml), or MEMBERSHIPD_NODE_ARGS when set. */
export function membershipdNodeFlags(): string[] {
  const set = process.env.MEMBERSHIPD_NODE_ARGS;
  if (set !== undefined) return set.split(' ').filter(Boolean);
  const d = parseYaml(readFileSync(join(import.meta.dirname, '..', '..', 'roles', 'unibus_node', 'defaults.yaml'), 'utf8')) as { membershipd_node_flags?: string[] };
  return d.membershipd_node_flags ?? [];
}

/**
 * membershipd as a host runs it: the one-file bundle that the deploy uploads
 * (scripts/build-daemon.mjs), started with the node flags the deploy gives it
 * (roles/unibus_node/defaults.yaml). MEMBERSHIPD_JS / MEMBERSHIPD_NODE_ARGS
 * set by hand win (to compare variants).
 */
export function buildDaemon(): void {
  const root = join(import.meta.dirname, '..', '..');
  process.env.MEMBERSHIPD_NODE_ARGS = membershipdNodeFlags().join(' ');
  if (process.env.MEMBERSHIPD_JS) return;
  const out = join(root, 'local_files', 'bench-membershipd.mjs');
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-daemon.mjs'), out], { encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) throw new Error(`building the membershipd bundle failed: ${r.stderr}`);
  process.env.MEMBERSHIPD_JS = out;
}
