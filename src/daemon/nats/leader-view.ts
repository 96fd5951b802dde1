// Whether the stream leaders count this node as current. A follower's own
// /jsz does not list itself among a stream's replicas, and its raft state can
// look healthy while the leader sees it stuck behind (nats-server 2.10 has
// known catch-up stalls after a restart). Only the leader's view is
// authoritative, and STREAM.INFO is answered by the leader: so /healthz asks
// it, and fails closed when it cannot.
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';

type ClusterView = Pick<NonNullable<StreamInfo['cluster']>, 'leader' | 'replicas'>;

/** Pure: the reason this node must not serve, or null when every leader counts it current. */
export function judgeLeaderViews(
  views: { stream: string; cluster?: ClusterView; replicas: number }[],
  self: string,
  clusterSize: number,
): string | null {
  for (const { stream, cluster, replicas } of views) {
    if (!cluster?.leader) return `stream ${stream} has no leader`;
    if (cluster.leader === self) continue;
    const me = (cluster.replicas ?? []).find((r) => r.name === self);
    if (!me) {
      // A stream on fewer replicas than nodes may simply not live here.
      if (replicas >= clusterSize) return `stream ${stream}: leader ${cluster.leader} does not list this node as a replica`;
      continue;
    }
    if (me.offline) return `stream ${stream}: leader ${cluster.leader} sees this node offline`;
    if (!me.current) return `stream ${stream}: leader ${cluster.leader} sees this node behind (lag ${me.lag ?? '?'})`;
  }
  return null;
}

/** Asks every stream's leader, bounded by the manager's timeout; any failure is a reason. */
export async function leaderVerdict(jsm: JetStreamManager, streams: string[], self: string, clusterSize: number): Promise<string | null> {
  try {
    const infos = await Promise.all(streams.map((s) => jsm.streams.info(s)));
    return judgeLeaderViews(
      infos.map((i) => ({ stream: i.config.name, cluster: i.cluster, replicas: i.config.num_replicas })),
      self,
      clusterSize,
    );
  } catch (err) {
    return `stream leaders not answering: ${(err as Error).message}`;
  }
}
