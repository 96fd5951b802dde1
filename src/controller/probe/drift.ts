// What a verified cluster must look like, and every way a probe differs from it.
import type { ClusterReport } from './probe.js';

export interface Expected {
  clusterName: string;
  kvReplicas: number;
  nodeCount: number;
  /** Whether each node's own kv_replicas setting must equal kvReplicas (false while a scale is not yet rolled out). */
  postureReplicas?: boolean;
  /** Certificates with fewer days left count as drift. */
  renewWithinDays?: number;
}

/**
 * Every difference, one line each. A node that does not answer at all gets
 * one line with the cause (refused at which address, a timeout, TLS, DNS);
 * what merely follows from it is not repeated: its peers' missing routes to
 * it, its replicas offline or behind, the missing meta and stream leaders
 * once half the nodes or more do not answer, and, when none answers, the
 * streams nothing could be asked about. An error shared by many streams is
 * said once.
 */
export function findDrift(r: ClusterReport, want: Expected): string[] {
  const d: string[] = [];
  // A node alone in its inventory runs JetStream without a cluster (templates/cluster.env.j2): no cluster name, no meta group.
  const alone = want.nodeCount === 1;
  const posture = { bus_auth: 'enforce', acl: 'per-user', tls: true, cluster: alone ? null : want.clusterName, route_tls: true, store: 'kv', kv_replicas: want.kvReplicas };
  const down = new Set(r.nodes.filter((n) => n.http === null).map((n) => n.name));
  const allDown = r.nodes.length > 0 && down.size === r.nodes.length;
  // With half the nodes or more not answering, no quorum is expected among the rest.
  const quorumLost = down.size * 2 >= want.nodeCount;
  for (const n of r.nodes) {
    if (n.http === null) {
      d.push(`${n.name}: /healthz unreachable: ${n.cause?.message ?? n.reason ?? n.status}`);
      continue;
    }
    if (n.http !== 200) {
      d.push(`${n.name}: /healthz ${n.http} (${n.reason ?? n.status})`);
      continue;
    }
    for (const [k, v] of Object.entries(posture)) {
      if (k === 'kv_replicas' && want.postureReplicas === false) continue;
      if (n.posture?.[k] !== v) d.push(`${n.name}: posture ${k} is ${JSON.stringify(n.posture?.[k])}, expected ${JSON.stringify(v)}`);
    }
    // Routes missing to nodes that do not answer are said by those nodes' own lines.
    const expected = want.nodeCount - 1;
    const missing = expected - (n.routes ?? 0);
    if (n.routes !== expected && !(missing > 0 && missing <= down.size)) d.push(`${n.name}: routes to ${n.routes} peers, expected ${expected}`);
  }
  const leaders = new Set(r.nodes.filter((n) => n.http === 200).map((n) => n.meta_leader));
  if (!r.meta_leader && leaders.size > 1) d.push(`nodes disagree on the meta leader (${[...leaders].join(', ')})`);
  else if (!r.meta_leader && !quorumLost && !alone) d.push('no meta leader');
  const errors = new Map<string, string[]>();
  for (const s of r.streams) {
    if (s.error) {
      errors.set(s.error, [...(errors.get(s.error) ?? []), s.name]);
      continue;
    }
    if (s.replicas !== want.kvReplicas) d.push(`${s.name}: R${s.replicas}, expected R${want.kvReplicas}`);
    if (!s.leader && !quorumLost) d.push(`${s.name}: no leader`);
    for (const p of s.peers) {
      if (down.has(p.name)) continue;
      if (!p.current || p.offline) d.push(`${s.name}: replica ${p.name} ${p.offline ? 'offline' : `not current (lag ${p.lag})`}`);
    }
  }
  // Streams are read through a node: when none answers, their errors say nothing new.
  if (!allDown) {
    for (const [error, names] of errors) d.push(`${names.length === r.streams.length && names.length > 1 ? 'every stream' : names.join(', ')}: ${error}`);
  }
  for (const c of r.certs) {
    if (c.days_left < (want.renewWithinDays ?? 30)) d.push(`${c.node}: ${c.kind} certificate expires in ${c.days_left} days (${c.not_after})`);
  }
  return d;
}
