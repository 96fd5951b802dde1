// GET /healthz: the node's posture and its ability to serve. 200 only when the
// node can serve the control plane; 503 with the reason otherwise.
import { defineEventHandler, setResponseHeader, setResponseStatus, type EventHandler } from 'h3';
import type { NodeView } from '../nats/monitor.js';

export interface Posture {
  bus_auth: 'enforce' | 'off';
  /** 'per-user': every data-plane user has explicit subject permissions; 'none': auth off. */
  acl: 'per-user' | 'none';
  tls: boolean;
  /** The cluster name, or null for a standalone node. */
  cluster: string | null;
  route_tls: boolean;
  store: 'kv';
  kv_replicas: number;
}

export interface HealthReport {
  status: 'ok' | 'unavailable';
  reason?: string;
  posture: Posture;
  node: NodeView;
}

/** What /healthz needs from the node: one call, already bounded in time. */
export interface HealthSource {
  health(): Promise<HealthReport>;
}

export function createHealthzHandler(source: HealthSource): EventHandler {
  return defineEventHandler(async (event) => {
    const report = await source.health();
    setResponseHeader(event, 'cache-control', 'no-store');
    setResponseStatus(event, report.status === 'ok' ? 200 : 503);
    return report;
  });
}
