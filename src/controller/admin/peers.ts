// Removing a dead node from the cluster: out of the JetStream meta group, and
// every control-plane stream back at its replicas on live peers.
//
// Invariants:
// - Only a dead peer is removed: one the meta group marks offline, or does
//   not count as current while no live server has a route to it. A live one
//   is refused (its copies would be dropped while it still serves).
// - A removal that would leave fewer live peers than the streams' replicas is
//   refused before anything is sent: nats-server would drop the copies and
//   find nowhere to place new ones.
// - The removal is $JS.API.SERVER.REMOVE, which nats-server answers only in
//   the system account ($SYS): it is sent with a node's system identity. The
//   meta leader then re-places each stream copy the peer held on another live
//   peer, which catches up from the stream's leader.
// - Done means every stream at its replicas, led, none of its peers the
//   removed one, every copy current; a re-run after an interrupted one finds
//   the peer gone and waits for the same.
import type { NatsConnection } from '@nats-io/transport-node';
import { UnibusError } from '../../errors.js';
import type { StreamReport } from '../probe/probe.js';

export class PeerRemoveError extends UnibusError {}

/** What a leaving node's removal leaves to the operator (play remove-node). */
export const NEXT = '; next: delete its entry from the inventory and run play bringup (the other nodes drop their route to it, one at a time)';

export interface MetaPeer {
  name: string;
  offline: boolean;
  current: boolean;
  /** Since the meta leader last heard from it, in ms (0 for the leader itself, and for a peer it never heard from). */
  silentMs: number;
  /** Whether a server that answered has a route to it (the leader itself: true). */
  routed: boolean;
}

/**
 * Dead: marked offline, or not current with no route from any live server.
 * nats-server marks a killed server \`offline\` only once its system
 * heartbeats are missed for minutes, and a meta leader elected after the
 * peer died reports it as heard 0 ns ago (both seen on 2.15.1: a node killed
 * in the replace test was neither offline nor silent 60 s later). A killed
 * server's routes close at once, while a live one, even one a new leader has
 * not heard from yet, keeps its routes.
 */
export const isDead = (p: MetaPeer) => p.offline || (!p.current && !p.routed);

/** How long the servers' route reports are collected. */
const ROUTEZ_WAIT_MS = 1000;

export interface MetaGroup {
  leader: string | null;
  peers: MetaPeer[];
}

interface JszReply {
  data?: { meta_cluster?: { leader?: string; replicas?: { name: string; current?: boolean; offline?: boolean; active?: number }[] } };
  error?: { description?: string };
}

/** The meta group as its leader sees it (the leader listed first, online and current), asked in the system account. */
export async function readMetaGroup(sys: NatsConnection, timeoutMs = 3000): Promise<MetaGroup> {
  const r = await sys.request('$SYS.REQ.SERVER.PING.JSZ', JSON.stringify({ leader_only: true }), { timeout: timeoutMs }).catch((cause: unknown) => {
    throw new PeerRemoveError(`no meta leader answered within ${timeoutMs} ms (the meta group without quorum, or between leaders)`, { cause });
  });
  const j = r.json<JszReply>();
  if (j.error) throw new PeerRemoveError(`the meta leader's JetStream report: ${j.error.description ?? 'an error'}`);
  const m = j.data?.meta_cluster;
  if (!m?.leader) throw new PeerRemoveError('the meta group has no leader: nothing can be removed without quorum');
  const routed = await routedNames(sys);
  // \`active\` is a Go duration: nanoseconds since the leader last heard from the peer.
  const others = (m.replicas ?? []).map((p) => ({ name: p.name, offline: !!p.offline, current: !!p.current, silentMs: Math.round((p.active ?? 0) / 1e6), routed: routed.has(p.name) }));
  return { leader: m.leader, peers: [{ name: m.leader, offline: false, current: true, silentMs: 0, routed: true }, ...others] };
}

/** The server names that some answering server has a route to (every server answers $SYS.REQ.SERVER.PING.ROUTEZ; replies collected ROUTEZ_WAIT_MS). */
async function routedNames(sys: NatsConnection): Promise<Set<string>> {
  const out = new Set<string>();
  const replies = await sys.requestMany('$SYS.REQ.SERVER.PING.ROUTEZ', '', { strategy: 'timer', maxWait: ROUTEZ_WAIT_MS });
  for await (const r of replies) {
    const j = r.json<{ data?: { routes?: { remote_name?: string }[] } }>();
    for (const route of j.data?.routes ?? []) if (route.remote_name) out.add(route.remote_name);
  }
  return out;
}

/** The meta group in one line: each peer, and how the leader hears it. */
export function describeMeta(meta: MetaGroup): string {
  return meta.peers.map((p) => `${p.name}${p.name === meta.leader ? ' leader' : `${p.offline ? ' offline' : ''}${p.current ? ' current' : ' not current'}${p.routed ? '' : ', no route'}, heard ${Math.round(p.silentMs / 1000)} s ago`}`).join('; ');
}

/** Why `peer` may not be removed from `meta` for streams of `replicas`, or null when it may (or is gone already). */
export function refuseRemoval(meta: MetaGroup, peer: string, replicas: number): string | null {
  const p = meta.peers.find((x) => x.name === peer);
  if (p && !isDead(p)) {
    const how = meta.leader === peer ? 'its leader' : p.current ? 'current' : 'routed to';
    return `${peer} is online in the meta group (${how}): only a dead node is replaced; stop it first`;
  }
  const live = meta.peers.filter((x) => x.name !== peer && !isDead(x)).map((x) => x.name);
  if (live.length < replicas) {
    return `${live.length} live peer${live.length === 1 ? '' : 's'} (${live.join(', ') || 'none'}) without ${peer}, for streams of ${replicas} replicas: start the replacement node first`;
  }
  return null;
}

/** Sends the meta group's peer removal of `peer` (by server name), in the system account. */
export async function removeMetaPeer(sys: NatsConnection, peer: string, timeoutMs = 5000): Promise<void> {
  const r = await sys.request('$JS.API.SERVER.REMOVE', JSON.stringify({ peer }), { timeout: timeoutMs });
  const j = r.json<{ success?: boolean; error?: { code?: number; err_code?: number; description?: string } }>();
  if (j.success) return;
  throw new PeerRemoveError(`the meta leader refused to remove ${peer}: ${j.error?.description ?? 'no reason given'}${j.error?.err_code ? ` (${j.error.err_code})` : ''}`);
}

/** What still keeps the streams from being settled without `peer`, one line per stream (empty: settled). */
export function unsettledStreams(streams: StreamReport[], peer: string, replicas: number): string[] {
  return streams.flatMap((s) => {
    if (s.error) return [`${s.name}: ${s.error}`];
    const why: string[] = [];
    if (s.replicas !== replicas) why.push(`R${s.replicas ?? '?'}, expected R${replicas}`);
    if (!s.leader) why.push('no leader');
    const names = [s.leader, ...s.peers.map((p) => p.name)].filter((n): n is string => !!n);
    if (names.includes(peer)) why.push(`${peer} still holds a copy`);
    if (names.length !== replicas) why.push(`${names.length} copies placed`);
    const behind = s.peers.filter((p) => p.offline || !p.current).map((p) => `${p.name}${p.offline ? ' offline' : ` ${p.lag} behind`}`);
    if (behind.length) why.push(`not current: ${behind.join(', ')}`);
    return why.length ? [`${s.name}: ${why.join('; ')}`] : [];
  });
}
