// Cross-field inventory checks that a JSON Schema cannot express: unique
// names and addresses, no two listeners on one address:port, route network
// coverage, replica count versus node count. Each error points at the node
// field that repeats or is missing.
import type { ConfigError } from '../errors.js';
import { configErrorAt, type YamlSource } from '../yaml/source.js';
import type { ClusterSpec, NodeSpec } from './types.js';
import { compareVersions, MIN_NATS_SERVER, RELEASES, shippedVersions } from './nats-releases.js';

export const PORT_VARS = { http: 'http_port', nats: 'nats_port', route: 'route_port' } as const;

/** The ports a node listens on: the cluster's, unless the node's vars override them. */
export function nodePorts(cluster: ClusterSpec, node: NodeSpec): { http: number; nats: number; route: number } {
  const pick = (k: keyof typeof PORT_VARS): number => {
    const v = node.vars[PORT_VARS[k]];
    return typeof v === 'number' ? v : cluster.ports[k];
  };
  return { http: pick('http'), nats: pick('nats'), route: pick('route') };
}

/** The address a node's routes listen on, by the cluster's route network. */
export function routeAddress(cluster: ClusterSpec, node: NodeSpec): string {
  return cluster.route_network === 'wg' ? (node.wg_ip ?? node.public_ip) : node.public_ip;
}

export function checkNodes(src: YamlSource, cluster: ClusterSpec, nodes: NodeSpec[]): { errors: ConfigError[]; warnings: string[] } {
  const errors: ConfigError[] = [];
  const warnings: string[] = [];
  if (!nodes.length) {
    errors.push(configErrorAt(src, ['nodes'], 'no nodes', 'at least one node'));
    return { errors, warnings };
  }
  const at = (i: number, field: string) => ['nodes', i, field];

  // Port overrides in vars must be real ports: the listener check depends on them.
  nodes.forEach((n, i) => {
    for (const v of Object.values(PORT_VARS)) {
      const p = n.vars[v];
      if (p !== undefined && !(Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535)) {
        errors.push(configErrorAt(src, ['nodes', i, 'vars', v], `invalid port ${JSON.stringify(p)}`, 'an integer 1-65535'));
      }
    }
  });

  const firstSeen = new Map<string, number>();
  const dup = (key: string, i: number, path: (string | number)[], what: string) => {
    const prev = firstSeen.get(key);
    if (prev !== undefined) errors.push(configErrorAt(src, path, `duplicate ${what} (already used by node '${nodes[prev].name}')`, `a ${what} unique in the inventory`));
    else firstSeen.set(key, i);
  };
  nodes.forEach((n, i) => {
    dup(`name:${n.name}`, i, at(i, 'name'), `node name '${n.name}'`);
    // Local nodes may share an address (they differ by port); remote nodes are distinct machines.
    if (n.connection === 'ssh') {
      dup(`public_ip:${n.public_ip}`, i, at(i, 'public_ip'), `public_ip ${n.public_ip}`);
      if (n.wg_ip) dup(`wg_ip:${n.wg_ip}`, i, at(i, 'wg_ip'), `wg_ip ${n.wg_ip}`);
      dup(`ssh:${n.host}:${n.port}`, i, at(i, src.data && hasField(src, i, 'host') ? 'host' : 'public_ip'), `ssh address ${n.host}:${n.port}`);
    }
  });

  // Host patterns resolve 'all', then node names, then roles: a clash would select the wrong hosts.
  const roles = new Set(nodes.map((n) => n.role));
  nodes.forEach((n, i) => {
    if (n.name === 'all') errors.push(configErrorAt(src, at(i, 'name'), "node name 'all' is reserved", "another name: 'all' selects every node"));
    else if (roles.has(n.name)) errors.push(configErrorAt(src, at(i, 'name'), `node name '${n.name}' is also a role name`, 'node names distinct from role names, so host patterns are unambiguous'));
    if (n.role === 'all' && hasField(src, i, 'role')) errors.push(configErrorAt(src, at(i, 'role'), "role 'all' is reserved", "another role: 'all' selects every node"));
  });

  // Two listeners on one address:port would make one node fail to start.
  const listeners = new Map<string, string>();
  nodes.forEach((n, i) => {
    const ports = nodePorts(cluster, n);
    const mine: [string, number, string][] = [
      [n.public_ip, ports.http, 'http'],
      [n.public_ip, ports.nats, 'nats'],
      [routeAddress(cluster, n), ports.route, 'route'],
    ];
    for (const [addr, port, kind] of mine) {
      const key = `${addr}:${port}`;
      const owner = listeners.get(key);
      const path = n.vars[PORT_VARS[kind as keyof typeof PORT_VARS]] !== undefined ? ['nodes', i, 'vars', PORT_VARS[kind as keyof typeof PORT_VARS]] : at(i, 'name');
      if (owner) errors.push(configErrorAt(src, path, `two listeners on ${key}: ${owner} and ${n.name} ${kind}`, 'distinct address:port for every listener'));
      else listeners.set(key, `${n.name} ${kind}`);
    }
  });

  if (cluster.route_network === 'wg') {
    nodes.forEach((n, i) => {
      if (!n.wg_ip) errors.push(configErrorAt(src, ['nodes', i], `node '${n.name}' has no wg_ip but cluster.route_network is wg`, 'a wg_ip on every node when route_network is wg'));
    });
  }
  const ns = cluster.nats_server;
  if (ns?.version && ns.source === 'bundled' && !RELEASES[ns.version]) {
    errors.push(configErrorAt(src, ['cluster', 'nats_server', 'version'], `nats-server ${ns.version} is not a release unibus ships`, `one of ${shippedVersions().join(', ')} (or source: debian for the hosts' own package)`));
  }
  if (ns?.version && ns.source === 'debian' && compareVersions(ns.version, MIN_NATS_SERVER) < 0) {
    errors.push(configErrorAt(src, ['cluster', 'nats_server', 'version'], `nats-server ${ns.version} is older than membershipd runs on`, `${MIN_NATS_SERVER} or newer`));
  }
  // A user's own service: nothing on the host is done as root.
  nodes.forEach((n, i) => {
    if (n.service_manager !== 'systemd-user') return;
    const where = hasField(src, i, 'service_manager') ? at(i, 'service_manager') : ['defaults', 'service_manager'];
    if (n.user === 'root') errors.push(configErrorAt(src, where, `node '${n.name}': systemd-user runs membershipd under its user's own service manager, and its user is root`, "a non-root user (the node's or the defaults' user), or service_manager systemd"));
    if (ns?.source === 'debian') errors.push(configErrorAt(src, ['cluster', 'nats_server', 'source'], `node '${n.name}' is a systemd-user node, and installing the host's nats-server package needs root`, 'source: bundled (unibus ships the binary into the state folder)'));
    if ((src.data as { cluster?: { state_dir?: unknown } }).cluster?.state_dir === undefined) {
      errors.push(configErrorAt(src, ['cluster'], `node '${n.name}' is a systemd-user node, and the default state_dir ${cluster.state_dir} is not its user's to write`, "a cluster.state_dir in the user's home, such as /home/<user>/.local/state/unibus"));
    }
  });
  if (cluster.kv_replicas > nodes.length) {
    errors.push(configErrorAt(src, ['cluster', 'kv_replicas'], `kv_replicas ${cluster.kv_replicas} is more than the ${nodes.length} node(s)`, `at most ${nodes.length}`));
  }
  if (nodes.length % 2 === 0) {
    warnings.push(`${nodes.length} nodes: an even count tolerates no more failures than ${nodes.length - 1} nodes would`);
  }
  if (cluster.nonce_store === 'memory' && cluster.kv_replicas < 3) {
    warnings.push(`nonce_store memory needs kv_replicas 3 or more: at kv_replicas ${cluster.kv_replicas} nonces stay on disk`);
  }
  if (cluster.kv_replicas === 2) {
    warnings.push('kv_replicas 2 tolerates no more failures than kv_replicas 1 (quorum of 2 is 2); use 1 or 3');
  }
  return { errors, warnings };
}

function hasField(src: YamlSource, i: number, field: string): boolean {
  const nodes = (src.data as { nodes?: Record<string, unknown>[] })?.nodes;
  return Boolean(nodes?.[i] && field in nodes[i]);
}
