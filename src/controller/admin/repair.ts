// Rebuilding a replica's copy of a control-plane stream from the healthy
// majority (`play repair`).
//
// Which copies are damaged: the copies as read back (replicas.ts), grouped
// by what they hold (message count, last sequence, digest); a group holding
// a majority of the stream's replicas is healthy, every other copy (or one
// that could not be read) damaged. Without such a majority nothing is
// judged: no copy is known good.
//
// How: the stream's leader moved onto a healthy copy, the stream scaled to
// R1 (nats-server keeps the leader's copy and deletes the others' stores),
// then back to its replicas: the new followers start empty and catch up
// from the leader. Measured with nats-server 2.15.1 alone on loopback: a
// stream of 10,000 messages back at R3 with every replica current 1.4 s
// after the scale-down. Removing one peer (STREAM.PEER.REMOVE) was tried
// first and refused on a 3-node cluster ("peer remap failed": no other
// server to place the replica on), and a scale to R2 drops a peer of
// nats-server's choosing, not the damaged one.
//
// Invariants:
// - The leader at R1 is a healthy copy: checked before and after the
//   scale-down; a leader that moved elsewhere stops the rebuild (and says so)
//   before the scale-up.
// - While at R1 an acknowledged write is held by one server only: the
//   window is the scale-down and -up, about a second.
// - Every wait is bounded (stepTimeoutMs).
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { StreamCopies } from '../chaos/copies.js';
import { moveLeader } from '../chaos/replicas.js';
import { UnibusError } from '../../errors.js';
import { sleep } from '../../util/time.js';
import { waitStreamCurrent } from './scale.js';

export class RepairError extends UnibusError {}

export interface CopyJudgement {
  stream: string;
  healthy: string[];
  damaged: string[];
  /** Why nothing can be judged (no majority of equal copies). */
  undecided?: string;
}

const contentOf = (c: StreamCopies['copies'][number]) => `${c.messages}/${c.lastSeq}/${c.digest ?? ''}`;

/**
 * Which copies hold what a majority of the `replicas` hold. `force` names a
 * copy to rebuild whatever it holds (the others must then agree among
 * themselves and be a majority).
 */
export function judgeCopies(s: StreamCopies, replicas: number, force?: string): CopyJudgement {
  const out = (healthy: string[], damaged: string[], undecided?: string): CopyJudgement => ({ stream: s.stream, healthy, damaged, ...(undecided ? { undecided } : {}) });
  // A stream read without a digest (the nonces) is not compared (copies.ts): rebuilt only when named.
  if (!force && s.copies.length && s.copies.every((c) => c.digest === undefined)) return out(s.copies.map((c) => c.node), []);
  if (s.unread.some((u) => u.node === '*')) return out([], [], `its copies could not be compared (${s.unread.find((u) => u.node === '*')!.why})`);
  const candidates = s.copies.filter((c) => c.node !== force);
  const groups = new Map<string, string[]>();
  for (const c of candidates) groups.set(contentOf(c), [...(groups.get(contentOf(c)) ?? []), c.node]);
  const [best] = [...groups.values()].sort((a, b) => b.length - a.length);
  const need = Math.floor(replicas / 2) + 1;
  if (!best || best.length < need) {
    return out([], [], `no ${need} of its ${replicas} copies hold the same (${s.copies.map((c) => `${c.node} ${c.messages} messages, last ${c.lastSeq}`).join('; ') || 'none read'}${force ? `, leaving ${force} out` : ''})`);
  }
  const damaged = [...s.copies.map((c) => c.node).filter((n) => !best.includes(n)), ...s.unread.map((u) => u.node)];
  if (force && !damaged.includes(force)) damaged.push(force);
  return out(best, [...new Set(damaged)].sort());
}

async function setReplicas(jsm: JetStreamManager, stream: string, replicas: number, deadline: number): Promise<void> {
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const si = await jsm.streams.info(stream);
      await jsm.streams.update(stream, { ...si.config, num_replicas: replicas });
      return;
    } catch (e) {
      last = e;
      await sleep(500);
    }
  }
  throw new RepairError(`${stream}: the update to R${replicas} was refused until the bound`, { cause: last });
}

/** Rebuilds every copy of `j.stream` but the healthy leader's (see the header), logging each step; returns the leader it was rebuilt from. */
export async function rebuildCopies(nc: NatsConnection, jsm: JetStreamManager, j: CopyJudgement, stepTimeoutMs: number, log: (s: string) => void): Promise<string> {
  const { stream, healthy } = j;
  const si = await jsm.streams.info(stream);
  const replicas = si.config.num_replicas;
  if (!healthy.includes(si.cluster?.leader ?? '')) {
    const why = await moveLeader(nc, jsm, stream, healthy[0]!);
    if (why) throw new RepairError(`${stream}: its leader could not be moved onto the healthy copy of ${healthy[0]}: ${why}`);
  }
  const leader = (await jsm.streams.info(stream)).cluster?.leader ?? '';
  if (!healthy.includes(leader)) throw new RepairError(`${stream}: led by ${leader || 'nobody'}, not a healthy copy; nothing was changed`);
  log(`${stream}: led by ${leader} (a healthy copy); R${replicas} -> R1`);
  const deadline = Date.now() + stepTimeoutMs;
  await setReplicas(jsm, stream, 1, deadline);
  for (;;) {
    const now = await jsm.streams.info(stream).catch(() => null);
    if (now && (now.cluster?.replicas ?? []).length === 0 && now.config.num_replicas === 1) {
      if (now.cluster?.leader !== leader) throw new RepairError(`${stream}: at R1 it is led by ${now.cluster?.leader || 'nobody'}, not ${leader}: not scaled back up, look before going on`);
      break;
    }
    if (Date.now() > deadline) throw new RepairError(`${stream}: not down to R1 within ${stepTimeoutMs} ms`);
    await sleep(200);
  }
  log(`${stream}: R1 on ${leader}; R1 -> R${replicas}, the other copies rebuilt from it`);
  await setReplicas(jsm, stream, replicas, Date.now() + stepTimeoutMs);
  await waitStreamCurrent(jsm, stream, replicas, stepTimeoutMs);
  log(`${stream}: R${replicas}, every replica current`);
  return leader;
}
