// Variables of one host, resolved in a documented order.
//
// Public API:
//   hostVars(inv, node, layers?) -> Record<string, unknown>
//   redactVars(vars)             -> copy with secret-looking values redacted
//   isSecretName(name)           -> whether a variable name looks secret
//
// Precedence, lowest first (as in Ansible):
//   1. role defaults          (layers.roleDefaults: roles/<r>/defaults.yaml)
//   2. inventory defaults.vars
//   3. node vars              (nodes[].vars)
//   4. play vars              (layers.playVars)
//   5. registered results and set facts (layers.facts)
// Then the built-in names below are set last and cannot be overridden, since
// templates rely on them meaning exactly this:
//   inventory_hostname  the node name
//   node                the node's fields + ports {http,nats,route}, route_ip, state_dir
//   cluster             the cluster settings (ports, route_network, kv_replicas, ...)
//   nodes               every node like `node` (for routes to peers), inventory order
//   peers               `nodes` without this node
//   groups              { all: [names], <role>: [names] }
//   http_port, nats_port, route_port, route_ip, state_dir   this node's, for short
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Secret, isSecret } from '../secret.js';
import { nodePorts, routeAddress } from './checks.js';
import type { Inventory, NodeSpec, NodeView } from './types.js';

export interface VarLayers {
  roleDefaults?: Record<string, unknown>;
  playVars?: Record<string, unknown>;
  facts?: Record<string, unknown>;
}

export const BUILTIN_VARS = ['inventory_hostname', 'node', 'cluster', 'nodes', 'peers', 'groups', 'http_port', 'nats_port', 'route_port', 'route_ip', 'state_dir'];

/** A node as templates see it: its inventory fields plus what is derived from the cluster. */
export function describeNode(inv: Inventory, node: NodeSpec): NodeView {
  return {
    ...node,
    vars: { ...node.vars },
    ports: nodePorts(inv.cluster, node),
    route_ip: routeAddress(inv.cluster, node),
    state_dir: nodeStateDir(inv, node),
  };
}

/**
 * <cluster.state_dir>/<node name>. A relative state_dir is relative to the
 * inventory's folder, so the default local cluster keeps its state inside the
 * project wherever unibus is run from.
 */
export function nodeStateDir(inv: Inventory, node: NodeSpec): string {
  const base = String(inv.cluster.state_dir ?? '/var/lib/unibus');
  return join(isAbsolute(base) ? base : resolve(dirname(inv.file), base), node.name);
}

export function hostVars(inv: Inventory, node: NodeSpec, layers: VarLayers = {}): Record<string, unknown> {
  const self = describeNode(inv, node);
  const all = inv.nodes.map((n) => (n === node ? self : describeNode(inv, n)));
  const groups: Record<string, string[]> = { all: inv.nodes.map((n) => n.name) };
  for (const n of inv.nodes) (groups[n.role] ??= []).push(n.name);
  return {
    ...(layers.roleDefaults ?? {}),
    ...node.vars, // already defaults.vars overlaid by the node's own vars
    ...(layers.playVars ?? {}),
    ...(layers.facts ?? {}),
    inventory_hostname: node.name,
    node: self,
    cluster: { ...inv.cluster, ports: { ...inv.cluster.ports } },
    nodes: all,
    peers: all.filter((n) => n !== self),
    groups,
    http_port: self.ports.http,
    nats_port: self.ports.nats,
    route_port: self.ports.route,
    route_ip: self.route_ip,
    state_dir: self.state_dir,
  };
}

const SECRET_NAME = /pass|secret|seed|private|token|key$/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** A copy for display: values under secret-looking names become `<redacted sha256:…>`. */
export function redactVars<T>(value: T): T {
  const walk = (v: unknown, name: string | null): unknown => {
    if (isSecret(v)) return v.toString();
    if (name !== null && isSecretName(name) && v !== null && v !== undefined && v !== '') {
      return new Secret(typeof v === 'string' ? v : JSON.stringify(v)).toString();
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, null));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(value, null) as T;
}
