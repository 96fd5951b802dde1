// Reads a running cluster from the controller: every node's /healthz
// (posture, routes, meta leader), every control-plane stream through NATS
// (replicas, leader, current, lag) with a node's internal identity and its
// pinned CA, and the staged certificates' expiry. Pure reads, each bounded.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectInternal, CONTROL_STREAMS } from '../../daemon/index.js';
import { UnibusError } from '../../errors.js';
import { nodeFiles } from '../../pki/layout.js';
import { Secret } from '../../secret.js';
import { describeNetError, type NetCause } from '../../util/net-cause.js';

/** The stream that every node writes its readiness into (src/daemon/node.ts). */
export const HEALTH_STREAM = 'KV_UNIBUS_health';
export const CLUSTER_STREAMS = [HEALTH_STREAM, ...CONTROL_STREAMS];

export interface ProbeNode { name: string; ip: string; httpPort: number; natsPort: number }

export interface NodeReport {
  name: string;
  http: number | null;
  status: string;
  reason?: string;
  /** Why /healthz could not be read at all (http is null): refused, timeout, TLS, DNS, ... */
  cause?: NetCause;
  posture?: Record<string, unknown>;
  routes?: number;
  meta_leader?: string | null;
  /** The nats-server version the node runs, as its /healthz says (absent from an older membershipd). */
  nats_version?: string | null;
}

export interface StreamReport {
  name: string;
  replicas: number | null;
  leader: string | null;
  peers: { name: string; current: boolean; lag: number; offline: boolean }[];
  /** Messages in the stream, as its leader counts them (absent when it did not answer). */
  messages?: number;
  error?: string;
}

export interface CertReport { node: string; kind: 'server' | 'route'; not_after: string; days_left: number }

/** The NATS connection the streams were read through, and every node's port that failed before it. */
export interface NatsReport {
  via: string | null;
  failed: { node: string; cause: NetCause }[];
}

export interface ClusterReport {
  nodes: NodeReport[];
  meta_leader: string | null;
  streams: StreamReport[];
  certs: CertReport[];
  nats: NatsReport;
}

/** What cluster_verify registers: the report, what drifts, the meta leader, and each node's running nats-server version (null when unknown). */
export function verifyResult(report: ClusterReport, drift: string[]) {
  return { report, drift, meta_leader: report.meta_leader, nats_versions: Object.fromEntries(report.nodes.map((n) => [n.name, n.nats_version ?? null])) };
}

/** No node's NATS port could be used; `failed` says why for each one dialled. */
export class ClusterConnectError extends UnibusError {
  constructor(
    message: string,
    readonly failed: NatsReport['failed'],
  ) {
    super(message);
  }
}

/** One node's /healthz, or why it could not be read (refused, timeout, TLS, DNS, ...). */
export async function readHealth(n: ProbeNode, timeoutMs: number): Promise<NodeReport> {
  try {
    const res = await fetch(`http://${n.ip}:${n.httpPort}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    const b = (await res.json()) as { status: string; reason?: string; posture?: Record<string, unknown>; node?: { routes?: number; meta_leader?: string | null; nats_version?: string | null } };
    return { name: n.name, http: res.status, status: b.status, reason: b.reason, posture: b.posture, routes: b.node?.routes, meta_leader: b.node?.meta_leader ?? null, nats_version: b.node?.nats_version ?? null };
  } catch (e) {
    const cause = describeNetError(e, { address: `${n.ip}:${n.httpPort}`, timeoutMs });
    return { name: n.name, http: null, status: 'unreachable', reason: cause.message, cause };
  }
}

/**
 * Connects with the first node whose identity is on the controller and whose
 * NATS port answers; each failure is named. `internal`: the node's internal
 * identity (the global account, where the control plane lives); `system`: its
 * system-account identity ($SYS, for the meta group's peer removal).
 */
export async function connectFirst(nodes: ProbeNode[], outDir: string, timeoutMs: number, as: 'internal' | 'system' = 'internal'): Promise<{ nc: NatsConnection; via: string; failed: NatsReport['failed'] }> {
  const failed: NatsReport['failed'] = [];
  let tried = 0;
  const seedOf = (f: ReturnType<typeof nodeFiles>) => (as === 'internal' ? f.internalSeed : f.systemSeed);
  for (const n of nodes) {
    const f = nodeFiles(outDir, n.name);
    if (!existsSync(seedOf(f)) || !existsSync(f.clientCa)) continue;
    tried++;
    try {
      const nc = await connectInternal({
        servers: `nats://${n.ip}:${n.natsPort}`,
        seed: new Secret(readFileSync(seedOf(f), 'utf8').trim()),
        caFile: f.clientCa,
        name: `unibus controller${as === 'system' ? ' (system)' : ''}`,
        timeoutMs,
      });
      return { nc, via: n.name, failed };
    } catch (e) {
      failed.push({ node: n.name, cause: describeNetError(e, { address: `${n.ip}:${n.natsPort}`, timeoutMs }) });
    }
  }
  // Without a node's identity and CA nothing was dialled: say where they were looked for.
  const file = as === 'internal' ? 'internal.nk' : 'system.nk';
  if (!tried) throw new ClusterConnectError(`no node's ${as} identity under ${outDir} (<node>/${file} and <node>/ca.pem, written by bringup)`, failed);
  throw new ClusterConnectError(`no node's NATS port answered with its ${as} identity: ${failed.map((x) => `${x.node}: ${x.cause.message}`).join('; ')}`, failed);
}

/** Connects with the first reachable node's internal identity (from the controller's out/<node>/). */
export async function connectCluster(nodes: ProbeNode[], outDir: string, timeoutMs = 4000): Promise<NatsConnection> {
  return (await connectFirst(nodes, outDir, timeoutMs)).nc;
}

export async function readStreams(nc: NatsConnection, names = CLUSTER_STREAMS, timeoutMs = 3000): Promise<StreamReport[]> {
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
  const out: StreamReport[] = [];
  for (const name of names) {
    try {
      const si = await jsm.streams.info(name);
      const c = si.cluster;
      const peers = (c?.replicas ?? []).map((r) => ({ name: r.name, current: !!r.current, lag: r.lag ?? 0, offline: !!r.offline }));
      out.push({ name, replicas: si.config.num_replicas, leader: c?.leader ?? null, peers, messages: si.state.messages });
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
  const nats: NatsReport = { via: null, failed: [] };
  try {
    const healthy = nodes.filter((n) => health.find((h) => h.name === n.name)?.http === 200);
    const c = await connectFirst(healthy.length ? healthy : nodes, outDir, timeoutMs);
    nc = c.nc;
    nats.via = c.via;
    nats.failed = c.failed;
    streams = await readStreams(nc, CLUSTER_STREAMS, timeoutMs);
  } catch (e) {
    if (e instanceof ClusterConnectError) nats.failed = e.failed;
    streams = CLUSTER_STREAMS.map((name) => ({ name, replicas: null, leader: null, peers: [], error: (e as Error).message }));
  } finally {
    await nc?.close().catch(() => undefined);
  }
  return { nodes: health, meta_leader: meta, streams, certs: readCerts(nodes, outDir), nats };
}
