// Who plays a scheduled fault's role, found right before it is injected:
// from one probe of the cluster (every node's /healthz, each stream's leader),
// since leaders move with every fault.
//
// Invariants:
// - Pure: the probe and the schedule's `pick` decide; nothing is read here.
// - no_quorum names the nodes that must answer no 2xx while the fault holds:
//   a node cut off from a majority, or whose own nats-server is frozen or cut
//   off, or (a frozen majority) every node. A node whose membershipd itself is
//   frozen or killed answers nothing and is not named.
// - A partition cuts links both ways: `cut` maps each node to the nodes it
//   may not reach, and is symmetric.
// - Corruption stays a minority for the whole run: once a run has damaged
//   copies on a minority of the nodes (`corruptible`), its later corrupt
//   faults damage copies on those nodes only. A bit-flipped copy can stay
//   damaged until something reads it, so two faults a minute apart could
//   otherwise damage two of a stream's three copies (a 2.10.27 run, seed 306:
//   two of the members copies within 35 s), which is beyond what a cluster
//   of three promises; the Jepsen analysis of NATS damaged a fixed minority
//   of its nodes the same way.
import type { ClusterReport } from '../probe/probe.js';
import { NEMESIS_FAULTS, type ScheduledFault } from './schedule.js';

export interface Victims {
  /** The fault's words with the nodes filled in: "kill n2 (leader of KV_UNIBUS_rooms)". */
  name: string;
  targets: string[];
  no_quorum: string[];
  /** Partitions: node -> the nodes it may not reach (absent for other faults). */
  cut?: Record<string, string[]>;
  /** kill, pause: which processes ('membershipd', 'nats'). */
  processes?: ('membershipd' | 'nats')[];
  /** kill-stream-leader: the stream whose leader is killed; corrupt: the stream whose copy is damaged on the victim. */
  stream?: string;
  how?: 'truncate' | 'bitflip';
  /** skew: how far the target's membershipd clock is shifted (ms, either way). */
  skew_ms?: number;
}

/** The shifts a skew fault picks from: within the nodes' bound (CLOCK_SKEW_MAX_MS, 10 s) and past it, either way. */
export const SKEW_CHOICES_S = [-120, -30, -3, 3, 30, 120] as const;

export class NoVictimError extends Error {}

const nth = <T>(xs: readonly T[], k: number): T => xs[k % xs.length]!;

/** The streams whose leader a kill-stream-leader fault may pick, in the probe's order. */
function ledStreams(r: ClusterReport): { name: string; leader: string }[] {
  return r.streams.filter((s) => s.leader).map((s) => ({ name: s.name, leader: s.leader! }));
}

/** How many nodes a run may damage copies on: a minority. */
export const corruptibleCount = (nodes: number) => Math.floor((nodes - 1) / 2);

/**
 * `corruptible`: the nodes this run has damaged copies on so far; once they
 * are a minority (corruptibleCount), a corrupt fault picks among them only.
 */
export function findVictims(f: Pick<ScheduledFault, 'fault' | 'pick'>, nodes: readonly string[], r: ClusterReport, o: { corruptible?: readonly string[] } = {}): Victims {
  if (nodes.length < 3) throw new NoVictimError(`${f.fault}: needs at least 3 nodes, the cluster has ${nodes.length}`);
  const meta = r.meta_leader && nodes.includes(r.meta_leader) ? r.meta_leader : null;
  const words = NEMESIS_FAULTS[f.fault].words;
  const one = (who: string, why: string, rest: Omit<Victims, 'name' | 'targets'>): Victims => ({ name: `${f.fault} ${who} (${why})`, targets: [who], ...rest });
  const minorityOf = (k: number): string[] => {
    const size = Math.floor((nodes.length - 1) / 2);
    const start = k % nodes.length;
    return Array.from({ length: size }, (_, i) => nodes[(start + i) % nodes.length]!);
  };
  const cutBetween = (a: readonly string[], b: readonly string[]): Record<string, string[]> => {
    const cut: Record<string, string[]> = {};
    for (const x of a) cut[x] = [...(cut[x] ?? []), ...b];
    for (const y of b) cut[y] = [...(cut[y] ?? []), ...a];
    return cut;
  };
  switch (f.fault) {
    case 'kill-follower': {
      const followers = nodes.filter((n) => n !== meta);
      return one(nth(followers, f.pick), 'a follower', { no_quorum: [], processes: ['membershipd', 'nats'] });
    }
    case 'kill-meta-leader':
      if (!meta) throw new NoVictimError(`${f.fault}: no meta leader agreed by every node (${r.nodes.map((n) => `${n.name}: ${n.meta_leader ?? 'none'}`).join(', ')})`);
      return one(meta, 'the meta leader', { no_quorum: [], processes: ['membershipd', 'nats'] });
    case 'kill-stream-leader': {
      const led = ledStreams(r);
      if (!led.length) throw new NoVictimError(`${f.fault}: no stream has a leader (${r.streams.map((s) => `${s.name}: ${s.error ?? 'none'}`).join(', ')})`);
      const s = nth(led, f.pick);
      return one(s.leader, `leader of ${s.name}`, { no_quorum: [], processes: ['membershipd', 'nats'], stream: s.name });
    }
    case 'kill-all':
      return { name: `${f.fault} ${nodes.join(', ')}`, targets: [...nodes], no_quorum: [], processes: ['membershipd', 'nats'] };
    case 'pause-nats':
      // Its membershipd still answers: with its nats-server frozen it must refuse.
      return one(nth(nodes, f.pick), "its nats-server frozen", { no_quorum: [nth(nodes, f.pick)], processes: ['nats'] });
    case 'pause-membershipd':
      return one(nth(nodes, f.pick), 'its membershipd frozen', { no_quorum: [], processes: ['membershipd'] });
    case 'pause-both':
      return one(nth(nodes, f.pick), 'membershipd and nats-server frozen', { no_quorum: [], processes: ['membershipd', 'nats'] });
    case 'pause-majority': {
      const minority = minorityOf(f.pick);
      const frozen = nodes.filter((n) => !minority.includes(n));
      return { name: `${f.fault} ${frozen.join(', ')} (nats-server frozen; ${minority.join(', ')} a minority)`, targets: frozen, no_quorum: [...nodes], processes: ['nats'] };
    }
    case 'partition-isolate': {
      const v = nth(nodes, f.pick);
      const rest = nodes.filter((n) => n !== v);
      return { name: `${f.fault} ${v} (cut from ${rest.join(', ')})`, targets: [...nodes], no_quorum: [v], cut: cutBetween([v], rest) };
    }
    case 'partition-majority': {
      const minority = minorityOf(f.pick);
      const majority = nodes.filter((n) => !minority.includes(n));
      return { name: `${f.fault} ${minority.join(', ')} | ${majority.join(', ')}`, targets: [...nodes], no_quorum: minority, cut: cutBetween(minority, majority) };
    }
    case 'partition-bridge': {
      const a = nth(nodes, f.pick);
      const b = nth(nodes, f.pick + 1);
      const bridge = nodes.filter((n) => n !== a && n !== b);
      return { name: `${f.fault} ${a} x ${b} (both still see ${bridge.join(', ')})`, targets: [a, b], no_quorum: [], cut: cutBetween([a], [b]) };
    }
    case 'restart':
      return one(nth(nodes, f.pick), 'graceful restart', { no_quorum: [] });
    case 'restart-all': {
      // As play restart orders them: the followers in inventory order, the meta leader last.
      const order = [...nodes.filter((n) => n !== meta), ...(meta ? [meta] : [])];
      return { name: `${f.fault} ${order.slice(0, -1).join(', ')}, then ${order.at(-1)}${meta ? ' (the meta leader last)' : ''}`, targets: order, no_quorum: [] };
    }
    case 'skew-node': {
      const s = nth(SKEW_CHOICES_S, f.pick >> 2);
      return one(nth(nodes, f.pick), `its membershipd's clock ${s > 0 ? '+' : ''}${s} s`, { no_quorum: [], skew_ms: s * 1000 });
    }
    case 'corrupt-minority':
    case 'corrupt-truncate':
    case 'corrupt-bitflip': {
      // A control-plane stream (not the health bucket) with messages to damage (an empty copy has no
      // block on disk), and one of its followers: a minority of its replicas.
      const held = new Set(r.streams.filter((s) => (s.messages ?? 0) > 0).map((s) => s.name));
      const led = ledStreams(r).filter((s) => s.name.startsWith('KV_') && !s.name.endsWith('_health') && held.has(s.name));
      if (!led.length) throw new NoVictimError(`${f.fault}: no control-plane stream with messages has a leader`);
      const how = f.fault === 'corrupt-truncate' ? 'truncate' : f.fault === 'corrupt-bitflip' ? 'bitflip' : (f.pick >> 4) % 2 ? 'bitflip' : 'truncate';
      const full = (o.corruptible?.length ?? 0) >= corruptibleCount(nodes.length);
      const allowed = full ? nodes.filter((n) => o.corruptible!.includes(n)) : [...nodes];
      // The seed's stream first, then the next ones, until one has a follower the run may damage.
      for (let k = 0; k < led.length; k++) {
        const s = nth(led, f.pick + k);
        const followers = nodes.filter((n) => n !== s.leader && allowed.includes(n));
        if (followers.length) return one(nth(followers, f.pick >> 1), `${how} its copy of ${s.name}, then lead it`, { no_quorum: [], processes: ['membershipd', 'nats'], stream: s.name, how });
      }
      throw new NoVictimError(`${f.fault}: this run damages copies on ${allowed.join(', ')} only (a minority of the nodes), and no control-plane stream with messages has a follower among them`);
    }
    default:
      throw new NoVictimError(`${String(f.fault)}: unknown fault (${words})`);
  }
}

/**
 * A self-healing fault's watchdog holds this much longer than the fault's
 * hold: the play's tasks between finding the victims and recording the
 * window take seconds (measured: up to 3 s on the lab), and the window is
 * judged for the hold from when the fault was in place.
 */
export const HEAL_SLACK_S = 5;

/** What the fault's tasks read (registered as `victims`): the victims, each cut node's peers' addresses, and the watchdog's bound. */
export function victimsResult(f: Pick<ScheduledFault, 'hold'>, v: Victims, ipOf: (node: string) => string, at: number) {
  const peers = Object.fromEntries(Object.entries(v.cut ?? {}).map(([n, cut]) => [n, cut.map(ipOf)]));
  const holdMax = f.hold + HEAL_SLACK_S;
  return { skipped: false, ...v, processes: v.processes ?? [], peers, at_ms: at, hold_max: holdMax, heals_ms: at + Math.round(holdMax * 1000) };
}

/** A fault skipped (its role found no node): every task of it is skipped. */
export function skippedResult(id: string, at: number) {
  return { skipped: true, name: id, targets: [] as string[], no_quorum: [] as string[], processes: [] as string[], peers: {}, at_ms: at, hold_max: 0, heals_ms: at };
}
