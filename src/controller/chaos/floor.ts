// The bare nats-server floor, measured in the same run: a stream of the
// workload's own (FLOOR_STREAM: R3, file storage, as the control-plane
// streams) written straight through JetStream with each node's internal
// identity, no membershipd in the path. Before a kill of a stream's leader
// the nemesis makes the victim this stream's leader too, so the time from
// the kill to this stream's first acknowledged write after it is what
// nats-server alone takes to elect a leader and serve again; the checker
// sets each fault's unavailability beside it (floor_ms).
//
//   floor-write  a JetStream publish to FLOOR_STREAM through one node's
//                connection (the nodes in turn), bounded by timeoutMs: ok,
//                fail (an error answered at once), info (no answer in time)
//
// Invariants:
// - A write goes out every everyMs whatever the ones in flight do (each
//   bound by timeoutMs): a write stuck at a dead leader holds back no other.
// - Each node is dialled alone, with its own internal identity
//   (out/<node>/internal.nk), and only its writes name it.
// - The stream keeps its last FLOOR_KEEP messages; the check deletes it.
import { readFile } from 'node:fs/promises';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import { pinnedTls } from '../../daemon/index.js';
import { sleep } from '../../util/time.js';
import type { Op, OpKind } from './history.js';
import { WORKLOAD_RECONNECT } from './data-plane.js';

export const FLOOR_STREAM = 'UNIBUS_CHAOS_FLOOR';
export const FLOOR_SUBJECT = 'unibus.chaos.floor';
const FLOOR_KEEP = 10_000;

export interface FloorHost {
  cfg: { nodes: { name: string; nats: string; ca?: string; seedFile?: string }[]; timeoutMs: number; floorEveryMs?: number };
  journal: { now(): number; write(o: Omit<Op, 'id'> & { f: OpKind }): Op };
}

async function dial(w: FloorHost, n: FloorHost['cfg']['nodes'][number], signal: AbortSignal): Promise<NatsConnection | null> {
  if (!n.seedFile) return null;
  const seed = new TextEncoder().encode((await readFile(n.seedFile, 'utf8')).trim());
  const tls = n.ca ? await pinnedTls(n.nats, n.ca) : undefined;
  while (!signal.aborted) {
    try {
      return await connect({
        servers: n.nats,
        authenticator: nkeyAuthenticator(seed),
        ...(tls ? { tls } : {}),
        timeout: w.cfg.timeoutMs,
        ...WORKLOAD_RECONNECT,
        name: 'unibus chaos floor',
      });
    } catch {
      await sleep(500, signal);
    }
  }
  return null;
}

/** Creates FLOOR_STREAM (R3) if it is not there, through any connection; bounded by 30 s. */
async function ensureStream(conns: NatsConnection[], timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  for (let t = 0; Date.now() < deadline && !signal.aborted; t++) {
    const nc = conns[t % conns.length]!;
    try {
      const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
      await jsm.streams.add({ name: FLOOR_STREAM, subjects: [FLOOR_SUBJECT], num_replicas: 3, storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, max_msgs: FLOOR_KEEP });
      return true;
    } catch (e) {
      if (/already in use/.test((e as Error).message)) return true;
      await sleep(500, signal);
    }
  }
  return false;
}

/** Writes to the floor stream every everyMs until the signal; resolves with the writes acknowledged once every write in flight is journaled. */
export async function runFloor(w: FloorHost, signal: AbortSignal): Promise<{ ok: number; sent: number }> {
  const every = w.cfg.floorEveryMs ?? 0;
  const stats = { ok: 0, sent: 0 };
  if (!every) return stats;
  const dialled = await Promise.all(w.cfg.nodes.map(async (n) => ({ node: n.name, nc: await dial(w, n, signal) })));
  const conns = dialled.filter((c): c is { node: string; nc: NatsConnection } => c.nc !== null);
  try {
    if (!conns.length || !(await ensureStream(conns.map((c) => c.nc), w.cfg.timeoutMs, signal))) return stats;
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; !signal.aborted; i++) {
      const c = conns[i % conns.length]!;
      const p = writeOne(w, c.node, c.nc, i, stats).finally(() => inFlight.delete(p));
      inFlight.add(p);
      await sleep(every, signal);
    }
    await Promise.all(inFlight);
  } finally {
    await Promise.all(conns.map((c) => c.nc.close().catch(() => undefined)));
  }
  return stats;
}

async function writeOne(w: FloorHost, node: string, nc: NatsConnection, seq: number, stats: { ok: number; sent: number }): Promise<void> {
  const invoke = w.journal.now();
  const wall = Date.now();
  stats.sent++;
  let type: Op['type'] = 'ok';
  let error: string | undefined;
  try {
    await jetstream(nc, { timeout: w.cfg.timeoutMs }).publish(FLOOR_SUBJECT, String(seq), { timeout: w.cfg.timeoutMs });
    stats.ok++;
  } catch (e) {
    error = (e as Error).message.slice(0, 120);
    type = /timeout|TIMEOUT/.test(error) ? 'info' : 'fail';
  }
  w.journal.write({ client: 'floor', node, f: 'floor-write', key: String(seq), invoke, complete: w.journal.now(), wall, type, status: 0, ...(error ? { error } : {}) });
}
