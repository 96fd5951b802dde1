// Reads a running cluster from the controller: every node's /healthz
// (posture, routes, meta leader), every control-plane stream through NATS
// (replicas, leader, current, lag) with a node's internal identity and its
// pinned CA, and the staged certificates' expiry. Pure reads, each bounded.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectInternal } from '../daemon/nats/connect.js';
import { CONTROL_STREAMS } from '../daemon/store/buckets.js';
import { nodeFiles } from '../pki/layout.js';
import { Secret } from '../secret.js';

/** The stream that every node writes its readiness into (src/daemon/node.ts). */
export const HEALTH_STREAM = 'KV_UNIBUS_health';
export const CLUSTER_STREAMS = [HEALTH_STREAM, ...CONTROL_STREAMS];

export interface ProbeNode { name: string; ip: string; httpPort: number; natsPort: number }

export interface NodeReport {
  name: string;
  http: number | null;
  status: string;
  reason?: string;
  posture?: Record<string, unknown>;
  routes?: number;
  meta_leader?: string | null;
}

export interface StreamReport {
  name: string;
  replicas: number | null;
  leader: string | null;
  peers: { name: string; current: boolean; lag: number; offline: boolean }[];
  error?: string;
}

export interface CertReport { node: string; kind: 'server' | 'route'; not_after: string; days_left: number }

export interface ClusterReport {
  nodes: NodeReport[];
  meta_leader: string | null;
  streams: StreamReport[];
  certs: CertReport[];
}

async function readHealth(n: ProbeNode, timeoutMs: number): Promise<NodeReport> {
  try {
    const res = await fetch(`http://${n.ip}:${n.httpPort}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    const b = (await res.json()) as { status: string; reason?: string; posture?: Record<string, unknown>; node?: { routes?: number; meta_leader?: string | null } };
    return { name: n.name, http: res.status, status: b.status, reason: b.reason, posture: b.posture, routes: b.node?.routes, meta_leader: b.node?.meta_leader ?? null };
  } catch (e) {
    return { name: n.name, http: null, status: 'unreachable', reason: (e as Error).message };
  }
}

/** Connects with the first reachable node's internal identity (from the controller's out/<node>/). */
export async function connectCluster(nodes: ProbeNode[], outDir: string, timeoutMs = 4000): Promise<NatsConnection> {
  let last: unknown;
  for (const n of nodes) {
    const f = nodeFiles(outDir, n.name);
    if (!existsSync(f.internalSeed) || !existsSync(f.clientCa)) continue;
    try {
      const nc = await connectInternal({
        servers: `nats://${n.ip}:${n.natsPort}`,
        seed: new Secret(readFileSync(f.internalSeed, 'utf8').trim()),
        caFile: f.clientCa,
        name: 'unibus controller',
        timeoutMs,
      });
      return nc;
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`no node's NATS port answered with its internal identity${last ? `: ${(last as Error).message}` : ''}`);
}

export async function readStreams(nc: NatsConnection, names = CLUSTER_STREAMS, timeoutMs = 3000): Promise<StreamReport[]> {
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
  const out: StreamReport[] = [];
  for (const name of names) {
    try {
      const si = await jsm.streams.info(name);
      const c = si.cluster;
      const peers = (c?.replicas ?? []).map((r) => ({ name: r.name, current: !!r.current, lag: r.lag ?? 0, offline: !!r.offline }));
      out.push({ name, replicas: si.config.num_replicas, leader: c?.leader ?? null, peers });
    } catch (e) {
      out.push({ name, replicas: null, leader: null, peers: [], error: (e as Error).message });
    }
  }
  return out;
}

function readCerts(nodes: ProbeNode[], outDir: string, now = Date.now()): CertReport[] {
  const out: CertReport[] = [];
  for (const n of nodes) {
    const f = nodeFiles(outDir, n.name);
    for (const [kind, file] of [['server', f.serverCert], ['route', f.routeCert]] as const) {
      if (!existsSync(file)) continue;
      const notAfter = new Date(new X509Certificate(readFileSync(file)).validTo);
      out.push({ node: n.name, kind, not_after: notAfter.toISOString(), days_left: Math.floor((notAfter.getTime() - now) / 86_400_000) });
    }
  }
  return out;
}

export async function probeCluster(nodes: ProbeNode[], outDir: string, timeoutMs = 3000): Promise<ClusterReport> {
  const health = await Promise.all(nodes.map((n) => readHealth(n, timeoutMs)));
  const leaders = new Set(health.map((h) => h.meta_leader).filter(Boolean));
  const meta = leaders.size === 1 ? ([...leaders][0] as string) : null;
  let streams: StreamReport[];
  let nc: NatsConnection | undefined;
  try {
    const healthy = nodes.filter((n) => health.find((h) => h.name === n.name)?.http === 200);
    nc = await connectCluster(healthy.length ? healthy : nodes, outDir, timeoutMs);
    streams = await readStreams(nc, CLUSTER_STREAMS, timeoutMs);
  } catch (e) {
    streams = CLUSTER_STREAMS.map((name) => ({ name, replicas: null, leader: null, peers: [], error: (e as Error).message }));
  } finally {
    await nc?.close().catch(() => undefined);
  }
  return { nodes: health, meta_leader: meta, streams, certs: readCerts(nodes, outDir) };
}
