// Renders nats.conf from typed data. Pure: no IO, so it is unit-tested and the
// same input always yields byte-identical output (the supervisor compares
// renders to decide whether a reload is needed).
import type { Secret } from '../../secret.js';

export interface SubjectPermission {
  allow?: string[];
  deny?: string[];
}

/** One data-plane user: an nkey public key ("U...") and its subject rights. */
export interface AllowUser {
  nkey: string;
  permissions?: { publish?: SubjectPermission; subscribe?: SubjectPermission };
}

export interface TlsFiles {
  cert: string;
  key: string;
}

export interface ClusterConf {
  name: string;
  host: string;
  port: number;
  /** Peer route URLs without userinfo, e.g. nats-route://10.99.1.12:6250. */
  routes: string[];
  /** Route credentials; injected into each route URL and the cluster authorization. */
  auth?: { user: string; pass: Secret };
  tls?: TlsFiles & { ca: string };
}

export interface NatsConf {
  serverName: string;
  host: string;
  port: number;
  /** Loopback monitor port; the node reads /jsz, /routez, /varz from it. */
  monitorPort: number;
  storeDir: string;
  /** nats-server writes its PID here; operators and tests find the child by it. */
  pidFile?: string;
  /** 'always' (fsync before ack) or a Go duration such as '2m'. */
  syncInterval: string;
  tls?: TlsFiles;
  cluster?: ClusterConf;
  /** null means no authorization block at all (bus auth off, loopback only). */
  internalNkey: string | null;
  /** The node's system-account identity's public nkey, the only user of $SYS; absent: $SYS has no user. */
  systemNkey?: string;
  allowlist: AllowUser[];
  lameDuckDuration: string;
  lameDuckGracePeriod: string;
}

/** A quoted conf string; JSON escaping is a subset the nats conf parser reads. */
function q(s: string): string {
  return JSON.stringify(s);
}

function list(items: string[]): string {
  // Commas matter: nats conf reads `[a b]` on one line as a single token.
  return `[${items.map(q).join(', ')}]`;
}

function renderSubjectPermission(p: SubjectPermission): string {
  const parts: string[] = [];
  if (p.allow) parts.push(`allow: ${list(p.allow)}`);
  if (p.deny) parts.push(`deny: ${list(p.deny)}`);
  return `{ ${parts.join(', ')} }`;
}

function renderUser(u: AllowUser, indent: string): string {
  const lines = [`${indent}{`, `${indent}  nkey: ${q(u.nkey)}`];
  const p = u.permissions;
  if (p && (p.publish || p.subscribe)) {
    lines.push(`${indent}  permissions: {`);
    if (p.publish) lines.push(`${indent}    publish: ${renderSubjectPermission(p.publish)}`);
    if (p.subscribe) lines.push(`${indent}    subscribe: ${renderSubjectPermission(p.subscribe)}`);
    lines.push(`${indent}  }`);
  }
  lines.push(`${indent}}`);
  return lines.join('\n');
}

/** Puts user:pass into a route URL; both are percent-encoded so any byte is safe. */
export function injectRouteAuth(url: string, user: string, pass: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(pass);
  return u.toString();
}

function renderCluster(c: ClusterConf): string[] {
  const routes = c.auth
    ? c.routes.map((r) => injectRouteAuth(r, c.auth!.user, c.auth!.pass.revealString()))
    : c.routes;
  const out = [
    'cluster {',
    `  name: ${q(c.name)}`,
    `  listen: ${q(`${c.host}:${c.port}`)}`,
    // Peers are listed explicitly; gossiped URLs would let a node route to
    // addresses nobody configured, and clients must not learn route URLs.
    '  no_advertise: true',
    // One pooled route per peer (2.10's default is 3); nats-server still adds
    // its dedicated system-account route. pool_size -1 (strictly one socket)
    // was measured to leave a node without a meta leader after a duplicate-route
    // race in 4 of 18 cold starts of 2.10.27; pool_size 1 in 0 of 20.
    '  pool_size: 1',
    `  routes: ${list(routes)}`,
  ];
  if (c.auth) {
    out.push(
      '  authorization {',
      `    user: ${q(c.auth.user)}`,
      `    password: ${q(c.auth.pass.revealString())}`,
      '    timeout: 2',
      '  }',
    );
  }
  if (c.tls) {
    out.push(
      '  tls {',
      `    cert_file: ${q(c.tls.cert)}`,
      `    key_file: ${q(c.tls.key)}`,
      `    ca_file: ${q(c.tls.ca)}`,
      '    verify: true',
      '    timeout: 3',
      '  }',
    );
  }
  out.push('}');
  return out;
}

/** The whole nats.conf text. Contains secrets: write it 0600 only. */
export function renderNatsConf(c: NatsConf): string {
  const out = [
    '# Rendered by membershipd; edits are overwritten.',
    `server_name: ${q(c.serverName)}`,
    `listen: ${q(`${c.host}:${c.port}`)}`,
    // Monitoring is bound to loopback only: it has no auth of its own.
    `http: ${q(`127.0.0.1:${c.monitorPort}`)}`,
    ...(c.pidFile ? [`pid_file: ${q(c.pidFile)}`] : []),
    // nats-server's floor is 30s; membershipd itself ends the lame duck as
    // soon as leaders are handed off (see supervisor.stop), so a stop takes seconds.
    `lame_duck_duration: ${q(c.lameDuckDuration)}`,
    `lame_duck_grace_period: ${q(c.lameDuckGracePeriod)}`,
    'jetstream {',
    `  store_dir: ${q(c.storeDir)}`,
    `  sync_interval: ${c.syncInterval === 'always' ? 'always' : q(c.syncInterval)}`,
    '}',
  ];
  if (c.tls) {
    out.push('tls {', `  cert_file: ${q(c.tls.cert)}`, `  key_file: ${q(c.tls.key)}`, '  timeout: 3', '}');
  }
  if (c.cluster) out.push(...renderCluster(c.cluster));
  if (c.internalNkey !== null) {
    const internal: AllowUser = { nkey: c.internalNkey };
    const users = [internal, ...c.allowlist.filter((u) => u.nkey !== c.internalNkey)];
    out.push('authorization {', '  users: [', users.map((u) => renderUser(u, '    ')).join(',\n'), '  ]', '}');
  }
  if (c.systemNkey) {
    // One user in the system account nats-server already runs ($SYS, its
    // default name: a system account of another name would not match the
    // peers' during a rolling restart, and their RAFT traffic runs in it). The
    // users above stay in the global account, whose JetStream holds the
    // control plane (checked on 2.10.27 and 2.15.1: the global account keeps
    // JetStream beside an accounts block naming only $SYS). Only this holds
    // $JS.API.SERVER.REMOVE, the meta group's peer removal (play replace-node).
    out.push('accounts {', '  $SYS {', '    users: [', renderUser({ nkey: c.systemNkey }, '      '), '    ]', '  }', '}');
  }
  return out.join('\n') + '\n';
}
