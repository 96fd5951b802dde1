// The cluster at a glance as text tables (status, verify).
import type { Expected } from './drift.js';
import type { ClusterReport, ProbeNode } from './probe.js';

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

export function formatReport(r: ClusterReport, drift: string[]): string {
  const nodes = table(
    ['NODE', 'HEALTH', 'NATS', 'ROUTES', 'META LEADER', 'POSTURE'],
    r.nodes.map((n) => [
      n.name,
      n.http === 200 ? 'ok' : `${n.http ?? '-'} ${n.reason ?? n.status}`.slice(0, 60),
      n.nats_version ?? '-',
      n.routes === undefined ? '-' : String(n.routes),
      n.meta_leader ?? '-',
      n.posture ? `auth=${n.posture.bus_auth} acl=${n.posture.acl} tls=${n.posture.tls} route_tls=${n.posture.route_tls} store=${n.posture.store} R${n.posture.kv_replicas}` : '-',
    ]),
  );
  // One error for every stream (no node's NATS port answered) is said once, under the table.
  const shared = r.streams.length > 1 && r.streams.every((s) => s.error && s.error === r.streams[0]!.error) ? r.streams[0]!.error : undefined;
  const streams = table(
    ['STREAM', 'R', 'LEADER', 'REPLICAS (current/lag)'],
    r.streams.map((s) => [
      s.name,
      s.replicas === null ? '-' : String(s.replicas),
      s.leader ?? '-',
      shared ? 'not read' : s.error ? `error: ${s.error}` : s.peers.map((p) => `${p.name}:${p.offline ? 'offline' : p.current ? 'current' : 'behind'}/${p.lag}`).join(' ') || '(leader only)',
    ]),
  ) + (shared ? `\nstreams not read: ${shared}` : '');
  const certs = table(['CERT', 'NODE', 'EXPIRES', 'DAYS'], r.certs.map((c) => [c.kind, c.node, c.not_after.slice(0, 10), String(c.days_left)]));
  const verdict = drift.length ? `DRIFT (${drift.length}):\n${drift.map((x) => `  - ${x}`).join('\n')}` : 'verified: no drift';
  return [`meta leader: ${r.meta_leader ?? '(none)'}`, nodes, '', streams, '', certs, '', verdict].join('\n');
}

/** cluster_verify's line: verified (with counts and the control plane's addresses), or the drift; the table appended when asked. */
export function formatVerdict(r: ClusterReport, drift: string[], want: Expected, nodes: ProbeNode[], withTable: boolean): string {
  const table = withTable ? `\n${formatReport(r, drift)}` : '';
  if (drift.length) return `drift: ${drift.join('; ')}${table}`;
  return `verified: ${nodes.length} nodes healthy, meta leader ${r.meta_leader}, ${r.streams.length} streams at R${want.kvReplicas} current; control plane at ${nodes.map((n) => `http://${n.ip}:${n.httpPort}`).join(' ')}${table}`;
}
