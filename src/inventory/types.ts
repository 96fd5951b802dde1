import type { SourcePos } from '../errors.js';

export type RouteNetwork = 'public' | 'wg';
export type Connection = 'ssh' | 'local';
export type ServiceManager = 'systemd' | 'systemd-user' | 'process';

export interface ClusterSpec {
  name: string;
  ports: { http: number; nats: number; route: number };
  route_network: RouteNetwork;
  kv_replicas: number;
  /** Where the control plane keeps nonces (the schema's default: disk). */
  nonce_store?: 'disk' | 'memory';
  /** The nats-server nodes run: `bundled` (shipped by unibus, version pinned; load fills the default) or the hosts' own `debian` package. */
  nats_server?: { version?: string; source: 'bundled' | 'debian' };
  /** Free-form extra cluster settings (sync_interval, cluster_user, ...). */
  [key: string]: unknown;
}

export interface NodeSpec {
  name: string;
  /** SSH host name or address. */
  host: string;
  user: string;
  port: number;
  identity_file?: string;
  public_ip: string;
  wg_ip?: string;
  role: string;
  connection: Connection;
  service_manager: ServiceManager;
  vars: Record<string, unknown>;
}

/**
 * A node as plays see it in the variables `node`, `nodes` and `peers`
 * (inventory/vars.ts describeNode): its inventory fields plus what the
 * cluster settings derive for it.
 */
export interface NodeView extends NodeSpec {
  /** The cluster's ports, unless the node's vars set its own. */
  ports: ClusterSpec['ports'];
  /** The address its routes and membershipd listen on: public_ip, or wg_ip on a wg route network. */
  route_ip: string;
  /** <cluster.state_dir>/<node name>. */
  state_dir: string;
}

/** A validated inventory with node defaults applied. */
export interface Inventory {
  file: string;
  cluster: ClusterSpec;
  defaults: Record<string, unknown>;
  nodes: NodeSpec[];
  /** Where each node was declared, for error messages. */
  positions: Map<string, SourcePos>;
  warnings: string[];
}
