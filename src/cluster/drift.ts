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

export function findDrift(r: ClusterReport, want: Expected): string[] {
  const d: string[] = [];
  const posture = { bus_auth: 'enforce', acl: 'per-user', tls: true, cluster: want.clusterName, route_tls: true, store: 'kv', kv_replicas: want.kvReplicas };
  for (const n of r.nodes) {
    if (n.http !== 200) {
      d.push(`${n.name}: /healthz ${n.http ?? 'unreachable'} (${n.reason ?? n.status})`);
      continue;
    }
    for (const [k, v] of Object.entries(posture)) {
      if (k === 'kv_replicas' && want.postureReplicas === false) continue;
      if (n.posture?.[k] !== v) d.push(`${n.name}: posture ${k} is ${JSON.stringify(n.posture?.[k])}, expected ${JSON.stringify(v)}`);
    }
    if (n.routes !== want.nodeCount - 1) d.push(`${n.name}: routes to ${n.routes} peers, expected ${want.nodeCount - 1}`);
  }
  const leaders = new Set(r.nodes.filter((n) => n.http === 200).map((n) => n.meta_leader));
  if (!r.meta_leader) d.push(leaders.size > 1 ? `nodes disagree on the meta leader (${[...leaders].join(', ')})` : 'no meta leader');
  for (const s of r.streams) {
    if (s.error) {
      d.push(`${s.name}: ${s.error}`);
      continue;
    }
    if (s.replicas !== want.kvReplicas) d.push(`${s.name}: R${s.replicas}, expected R${want.kvReplicas}`);
    if (!s.leader) d.push(`${s.name}: no leader`);
    for (const p of s.peers) if (!p.current || p.offline) d.push(`${s.name}: replica ${p.name} ${p.offline ? 'offline' : `not current (lag ${p.lag})`}`);
  }
  for (const c of r.certs) {
    if (c.days_left < (want.renewWithinDays ?? 30)) d.push(`${c.node}: ${c.kind} certificate expires in ${c.days_left} days (${c.not_after})`);
  }
  return d;
}
