// Reads the child's loopback monitoring endpoints and decides whether this
// node can serve. The decision (evaluateHealth) is pure so it is unit-tested
// on recorded shapes; fetchSnapshot does the bounded HTTP reads.
import { UnibusError } from '../../errors.js';

export class MonitorError extends UnibusError {}

interface Replica { name: string; current?: boolean; offline?: boolean; lag?: number }
interface StreamDetail {
  name: string;
  cluster?: { leader?: string; raft_group?: string; replicas?: Replica[] };
  state?: { messages: number; first_seq: number; last_seq: number; num_deleted?: number };
}
export interface Jsz {
  disabled?: boolean;
  config?: unknown;
  meta_cluster?: { name?: string; leader?: string; cluster_size?: number; replicas?: Replica[] };
  account_details?: { name: string; stream_detail?: StreamDetail[] }[];
}
export interface Routez {
  num_routes: number;
  routes?: { remote_name?: string; remote_id?: string; in_msgs?: number }[];
}
export interface Varz { server_name: string; version?: string }

export interface MonitorSnapshot { varz: Varz; jsz: Jsz; routez: Routez }

export interface NodeView {
  server_name: string | null;
  meta_leader: string | null;
  /** Distinct peers this node has a route to. */
  routes: number;
  jetstream: boolean;
  /** The running nats-server's version (its /varz), for status and `play upgrade`. */
  nats_version: string | null;
}

export interface HealthVerdict { ok: boolean; reason?: string; node: NodeView }

export interface HealthExpectations {
  clustered: boolean;
  /** Stream names that must have a leader and be current here (e.g. KV_UNIBUS_health). */
  streams: string[];
  kvReplicas: number;
}

async function getJson<T>(base: string, path: string, timeoutMs: number): Promise<T> {
  try {
    const res = await fetch(base + path, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new MonitorError(`${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  } catch (cause) {
    if (cause instanceof MonitorError) throw cause;
    throw new MonitorError(`monitor ${path} unreachable`, { cause });
  }
}

/** /jsz with every stream's state and cluster view, alone (bounded). */
export async function fetchJsz(monitorPort: number, timeoutMs = 2000): Promise<Jsz> {
  return getJson<Jsz>(`http://127.0.0.1:${monitorPort}`, '/jsz?accounts=true&streams=true', timeoutMs);
}

export async function fetchSnapshot(monitorPort: number, timeoutMs = 2000): Promise<MonitorSnapshot> {
  const base = `http://127.0.0.1:${monitorPort}`;
  const [varz, jsz, routez] = await Promise.all([
    getJson<Varz>(base, '/varz', timeoutMs),
    getJson<Jsz>(base, '/jsz?accounts=true&streams=true', timeoutMs),
    getJson<Routez>(base, '/routez', timeoutMs),
  ]);
  return { varz, jsz, routez };
}

/** Distinct peers this server has a route to. */
export function countPeers(r: Routez): number {
  const names = new Set((r.routes ?? []).map((x) => x.remote_name || x.remote_id || ''));
  names.delete('');
  return Math.max(names.size, r.routes ? 0 : r.num_routes);
}

/**
 * Messages received on all of this server's routes so far. Between two looks
 * it grows while any peer talks to this server (raft heartbeats, votes and
 * their answers); it stands still while every peer is frozen or cut off,
 * though their routes stay listed until pings time out. (A route's
 * last_activity is no such sign: what this server sends moves it too.)
 */
export function routeInMsgs(r: Routez): number {
  return (r.routes ?? []).reduce((n, x) => n + (x.in_msgs ?? 0), 0);
}

/** The snapshot's meta group has other members, and this server has a route to each of them. */
export function allPeersRouted(s: MonitorSnapshot): boolean {
  const size = s.jsz.meta_cluster?.cluster_size ?? 0;
  return size > 1 && countPeers(s.routez) >= size - 1;
}

/** Decides 200 or 503. Fails closed: anything unknown is a reason to refuse. */
export function evaluateHealth(s: MonitorSnapshot, want: HealthExpectations): HealthVerdict {
  const self = s.varz.server_name;
  const jetstream = !s.jsz.disabled && s.jsz.config !== undefined;
  const peers = countPeers(s.routez);
  const meta = s.jsz.meta_cluster;
  // A standalone server has no meta group: it is its own leader.
  const metaLeader = want.clustered ? (meta?.leader || null) : jetstream ? self : null;
  const node: NodeView = { server_name: self, meta_leader: metaLeader, routes: peers, jetstream, nats_version: s.varz.version ?? null };
  const fail = (reason: string): HealthVerdict => ({ ok: false, reason, node });
  if (!jetstream) return fail('jetstream is not enabled');
  if (!metaLeader) return fail('no JetStream meta leader known');
  if (want.clustered) {
    const size = meta?.cluster_size ?? 0;
    if (size < 1) return fail('cluster size unknown');
    // The meta view can be stale for seconds after peers vanish: require that
    // this node still routes to a majority, so a lone node never says ok.
    const quorum = Math.floor(size / 2) + 1;
    if (peers + 1 < quorum) return fail(`routes to ${peers} of ${size - 1} peers; quorum needs ${quorum - 1}`);
  }
  const details = new Map<string, StreamDetail>();
  for (const a of s.jsz.account_details ?? []) for (const d of a.stream_detail ?? []) details.set(d.name, d);
  const size = want.clustered ? (meta?.cluster_size ?? 1) : 1;
  for (const name of want.streams) {
    const d = details.get(name);
    if (!d) {
      // Not hosted here: fine only when replicas are fewer than nodes.
      if (want.kvReplicas >= size) return fail(`stream ${name} is not present on this node`);
      continue;
    }
    if (!want.clustered) continue;
    const leader = d.cluster?.leader;
    if (!leader) return fail(`stream ${name} has no leader`);
    if (leader === self) continue;
    const me = (d.cluster?.replicas ?? []).find((r) => r.name === self);
    if (me && !me.current) return fail(`stream ${name}: this node is not current`);
  }
  return { ok: true, node };
}

/**
 * nats-server's own verdict on this server's meta layer
 * (`/healthz?js-meta-only=true`): whether it is current with the meta
 * leader. Not used for /healthz (nats-server logs every failed check); the
 * stall watch asks it every few seconds at most. Not js-server-only: from
 * 2.11 on that one answers ok for a clustered server that has no meta leader
 * at all (2.15.1, measured: ok, where js-meta-only says "JetStream is still
 * recovering meta layer"; 2.10.27 answers both alike).
 */
export async function fetchServerHealth(monitorPort: number, timeoutMs = 1000): Promise<{ ok: boolean; error?: string }> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-meta-only=true`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => ({}))) as { status?: string; error?: string };
    return res.ok && body.status === 'ok' ? { ok: true } : { ok: false, error: body.error ?? `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, error: `monitor /healthz unreachable: ${(err as Error).message}` };
  }
}
