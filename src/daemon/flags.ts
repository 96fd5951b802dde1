// membershipd's flags. Every flag is also read from the environment as
// UNIBUS_<FLAG_UPPER_SNAKE> (e.g. --http-port -> UNIBUS_HTTP_PORT); argv wins.
// parseFlags is pure: it checks everything that can be checked without IO and
// returns typed options or throws FlagError. Checks that need the filesystem
// or the network (CA equality, version, ports) live in preflight.ts.
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UnibusError } from '../errors.js';
import { isNonceStore, type NonceStore } from './store/buckets.js';

export class FlagError extends UnibusError {}

const STRING_FLAGS = [
  'bind', 'http-port', 'nats-port', 'bus-auth', 'tls-cert', 'tls-key', 'tls-ca',
  'cluster-name', 'server-name', 'cluster-port', 'routes', 'cluster-user',
  'cluster-pass-file', 'route-tls-cert', 'route-tls-key', 'route-tls-ca',
  'internal-id-file', 'system-id-file', 'store', 'kv-replicas', 'nonce-store', 'nats-store', 'nats-server-bin',
  'nats-url', 'sync-interval', 'state-dir',
] as const;
type FlagName = (typeof STRING_FLAGS)[number];

export interface NodeOptions {
  bind: string;
  httpPort: number;
  natsPort: number;
  busAuth: 'enforce' | 'off';
  /** Data-plane TLS; ca pins the internal connection and must differ from the route CA. */
  tls?: { cert: string; key: string; ca?: string };
  clusterName?: string;
  serverName: string;
  clusterPort: number;
  routes: string[];
  clusterUser: string;
  /** Where the route secret comes from; the secret itself is read later. */
  clusterPassFile?: string;
  clusterPassFromEnv: boolean;
  routeTls?: { cert: string; key: string; ca: string };
  stateDir: string;
  internalIdFile: string;
  /** The system-account identity's seed (made by unibus, never by membershipd); an absent file: $SYS gets no user. */
  systemIdFile: string;
  store: 'kv';
  kvReplicas: number;
  /** Where a nonce bucket made by this node keeps nonces: disk (default) or memory (R3+, store/nonce-history.ts). */
  nonceStore: NonceStore;
  natsStore: string;
  natsServerBin: string;
  natsUrl?: string;
  /** 'always' (default: fsync before ack) or a Go duration such as '1m'. */
  syncInterval: string;
  debug: boolean;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function envName(flag: string): string {
  return 'UNIBUS_' + flag.toUpperCase().replace(/-/g, '_');
}

function parsePort(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) {
    throw new FlagError(`--${flag}: "${v}" is not a port (expected an integer 1-65535)`);
  }
  return n;
}

function parseRoutes(v: string | undefined): string[] {
  if (!v) return [];
  return v.split(',').map((s) => s.trim()).filter(Boolean).map((r) => {
    let u: URL;
    try {
      u = new URL(r);
    } catch (cause) {
      throw new FlagError(`--routes: "${r}" is not a URL (expected nats-route://HOST:PORT)`, { cause });
    }
    // The secret must only ever come from a file or the environment.
    if (u.username || u.password) {
      throw new FlagError('--routes: route URLs must not carry userinfo (the route secret comes from --cluster-pass-file or UNIBUS_CLUSTER_PASS)');
    }
    if (u.protocol !== 'nats-route:' && u.protocol !== 'nats:' && u.protocol !== 'tls:') {
      throw new FlagError(`--routes: "${r}" has scheme ${u.protocol} (expected nats-route://HOST:PORT)`);
    }
    if (!u.port) throw new FlagError(`--routes: "${r}" has no port (expected nats-route://HOST:PORT)`);
    return r;
  });
}

const DURATION = /^(always|\d+(ms|s|m|h))$/;

/** Parses argv and env into NodeOptions, refusing every unsafe combination. */
export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): NodeOptions {
  // Refuse the secret in argv before parseArgs, so even its error never echoes it.
  for (const a of argv) {
    if (a === '--cluster-pass' || a.startsWith('--cluster-pass=')) {
      throw new FlagError('--cluster-pass is refused: a secret in argv is visible in ps and /proc; use --cluster-pass-file or UNIBUS_CLUSTER_PASS');
    }
  }
  const options = Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: 'string' as const }]));
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, string | undefined>;
  } catch (cause) {
    throw new FlagError(`bad arguments: ${(cause as Error).message}`, { cause });
  }
  const get = (f: FlagName): string | undefined => values[f] ?? (env[envName(f)] || undefined);

  const bind = get('bind') ?? '127.0.0.1';
  const busAuth = get('bus-auth') ?? 'enforce';
  if (busAuth !== 'enforce' && busAuth !== 'off') throw new FlagError(`--bus-auth: "${busAuth}" (expected enforce or off)`);
  const store = get('store') ?? 'kv';
  if (store !== 'kv') throw new FlagError(`--store: "${store}" (expected kv)`);
  const kvReplicasRaw = get('kv-replicas') ?? '1';
  const kvReplicas = Number(kvReplicasRaw);
  if (![1, 3, 5].includes(kvReplicas)) throw new FlagError(`--kv-replicas: "${kvReplicasRaw}" (expected 1, 3 or 5)`);
  const nonceStore = get('nonce-store') ?? 'disk';
  if (!isNonceStore(nonceStore)) throw new FlagError(`--nonce-store: "${nonceStore}" (expected disk or memory)`);
  const syncInterval = get('sync-interval') ?? 'always';
  if (!DURATION.test(syncInterval)) throw new FlagError(`--sync-interval: "${syncInterval}" (expected always or a duration like 2m)`);

  const tlsCert = get('tls-cert');
  const tlsKey = get('tls-key');
  const tlsCa = get('tls-ca');
  if (!!tlsCert !== !!tlsKey) throw new FlagError('--tls-cert and --tls-key go together (data-plane TLS needs both)');
  // --tls-ca is the client-side CA: it pins membershipd's own connection to
  // its node and is compared with the route CA, so TLS without it is refused.
  if (!!tlsCert !== !!tlsCa) throw new FlagError('data-plane TLS needs --tls-cert, --tls-key and --tls-ca together');

  const rCert = get('route-tls-cert');
  const rKey = get('route-tls-key');
  const rCa = get('route-tls-ca');
  const rCount = [rCert, rKey, rCa].filter(Boolean).length;
  if (rCount !== 0 && rCount !== 3) {
    throw new FlagError('route TLS is all or nothing: give --route-tls-cert, --route-tls-key and --route-tls-ca together');
  }

  const routes = parseRoutes(get('routes'));
  const clusterName = get('cluster-name');
  const serverName = get('server-name') ?? `membershipd-${hostname()}`;
  const clusterPassFile = get('cluster-pass-file');
  const clusterPassFromEnv = !!env.UNIBUS_CLUSTER_PASS;
  const clustered = routes.length > 0 || !!clusterName;
  if (clustered && !clusterName) throw new FlagError('--routes needs --cluster-name');
  if (clustered && busAuth !== 'enforce') {
    throw new FlagError('a cluster needs --bus-auth enforce (an open bus would let anyone read the replicated state)');
  }
  if (busAuth === 'off' && !isLoopback(bind)) {
    throw new FlagError(`--bus-auth off is only allowed on a loopback bind (got --bind ${bind})`);
  }
  if (clustered && !isLoopback(bind)) {
    if (!clusterPassFile && !clusterPassFromEnv) {
      throw new FlagError(`a cluster bound to ${bind} needs a route secret (--cluster-pass-file or UNIBUS_CLUSTER_PASS)`);
    }
    if (rCount !== 3) {
      throw new FlagError(`a cluster bound to ${bind} needs route TLS (--route-tls-cert, --route-tls-key, --route-tls-ca)`);
    }
  }

  const stateDir = get('state-dir') ?? join('local_files', serverName);
  return {
    bind,
    httpPort: parsePort('http-port', get('http-port') ?? '8470'),
    natsPort: parsePort('nats-port', get('nats-port') ?? '4250'),
    busAuth,
    tls: tlsCert && tlsKey ? { cert: tlsCert, key: tlsKey, ...(tlsCa ? { ca: tlsCa } : {}) } : undefined,
    clusterName,
    serverName,
    clusterPort: parsePort('cluster-port', get('cluster-port') ?? '6250'),
    routes,
    clusterUser: get('cluster-user') ?? 'unibus-route',
    clusterPassFile,
    clusterPassFromEnv,
    routeTls: rCert && rKey && rCa ? { cert: rCert, key: rKey, ca: rCa } : undefined,
    stateDir,
    internalIdFile: get('internal-id-file') ?? join(stateDir, 'internal.nk'),
    systemIdFile: get('system-id-file') ?? join(stateDir, 'system.nk'),
    store,
    kvReplicas,
    nonceStore,
    natsStore: get('nats-store') ?? join(stateDir, 'jetstream'),
    natsServerBin: get('nats-server-bin') ?? 'nats-server',
    natsUrl: get('nats-url'),
    syncInterval,
    debug: env.UNIBUS_NATS_DEBUG === '1',
  };
}
