import type { SourcePos } from '../errors.js';

export type RouteNetwork = 'public' | 'wg';
export type Connection = 'ssh' | 'local';
export type ServiceManager = 'systemd' | 'process';

export interface ClusterSpec {
  name: string;
  ports: { http: number; nats: number; route: number };
  route_network: RouteNetwork;
  kv_replicas: number;
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
