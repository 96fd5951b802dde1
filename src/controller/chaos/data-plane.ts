// The workload's data plane: NATS clients of workload users, each connected
// with every node's URL (as an application would be), publishing on their
// own room's subject and subscribed to it, for the whole run.
//
//   dp-publish    a publish and a flush (the server has it): ok, or info
//                 when the flush timed out (a fault between client and server)
//   dp-reconnect  invoke: the connection was lost; complete: it is back
//                 (node: the server it is back on); the client's view of a
//                 fault's data-plane outage
//   dp-cross      a subscription to another user's room subject, where the
//                 user is no member: ok would mean the server let it in (a
//                 violation), fail that it refused it
//
// Invariants:
// - A client starts on a room its owner made at least ACL_SETTLE_MS before,
//   so that every node's allow list has it (acl-watch applies within 2 s).
// - Every wait is bounded: each flush by timeoutMs, each cross-room attempt
//   by CROSS_BOUND_MS, the connection's first dial by timeoutMs a try.
// - A cross-room subscription counts as let in only when the server answered
//   a round trip after it and did not close it: a server that does not
//   answer (frozen, cut off) proves nothing.
// - Messages are counted, not journaled one by one (core NATS is at most
//   once): `received` goes into the summary line the workload prints.
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { connect, nkeyAuthenticator, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { nkeySeedFromRaw } from '../../client/index.js';
import { inboxPrefix, roomSubject } from '../../daemon/index.js';
import { sleep } from '../../util/time.js';
import type { Op, OpKind } from './history.js';
import type { Rng } from './random.js';

/** A workload user: its handle and Ed25519 seed (hex). */
interface RunUser {
  handle: string;
  seed: string;
}

/** What the data plane uses of the workload (workload.ts): its nodes and bound, its journal, its rooms. */
export interface DataPlaneHost {
  cfg: { nodes: { name: string; nats: string; ca?: string }[]; timeoutMs: number };
  journal: { now(): number; write(o: Omit<Op, 'id'> & { f: OpKind }): Op };
  rooms: { room: string; owner: RunUser; at: number }[];
}

/** A room is used by the data plane once it is this old: every node's allow list has it by then. */
export const ACL_SETTLE_MS = 4000;
/** How long the round trip that settles a cross-room subscription may take. */
const CROSS_BOUND_MS = 2000;
const PUBLISH_EVERY_MS = 200;
const CROSS_EVERY_MS = 5000;

/**
 * How the workload's NATS clients keep their connection: forever, quickly,
 * and a dead server noticed within about 4 s. nats.js gives up (closes the
 * connection) after the same authorization error twice in a row whatever
 * the reconnect policy; a node back from a restart enforces its cached allow
 * list until it syncs, which may not have a user made since, so that is
 * waited out too (ignoreAuthErrorAbort): a combined 300 s run's workload
 * ended at 342 s on a "closed connection" (its subscribe threw).
 */
export const WORKLOAD_RECONNECT = { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250, pingInterval: 2000, maxPingOut: 2, ignoreAuthErrorAbort: true } as const;

export interface DataPlaneStats {
  published: number;
  received: number;
}

/** TLS for a connection that may land on any node: the cluster's CA, and any node's address in the certificate. */
async function clusterTls(w: DataPlaneHost): Promise<object | undefined> {
  const ca = w.cfg.nodes.find((n) => n.ca)?.ca;
  if (!ca) return undefined;
  const hosts = w.cfg.nodes.map((n) => new URL(n.nats).hostname);
  return {
    ca: await readFile(ca, 'utf8'),
    checkServerIdentity: (_name: string, cert: PeerCertificate) => (hosts.some((h) => !checkServerIdentity(h, cert)) ? undefined : new Error(`certificate names none of ${hosts.join(', ')}`)),
  };
}

const nodeOf = (w: DataPlaneHost, nc: NatsConnection | undefined): string => {
  const url = nc?.getServer() ?? '';
  return w.cfg.nodes.find((n) => url && n.nats.includes(url.replace(/^[a-z]+:\/\//, '')))?.name ?? (url || '?');
};

/** Runs `clients` data-plane clients until the signal; their counts. */
export async function runDataPlane(w: DataPlaneHost, rng: Rng, clients: number, signal: AbortSignal): Promise<DataPlaneStats> {
  const stats: DataPlaneStats = { published: 0, received: 0 };
  const tls = await clusterTls(w);
  const owners: { room: string; owner: RunUser }[] = [];
  // Rooms of distinct owners, old enough; waits (bounded by the run) until there are enough.
  while (!signal.aborted && owners.length < clients) {
    const settled = w.rooms.filter((r) => r.at <= w.journal.now() - ACL_SETTLE_MS && !owners.some((o) => o.owner.handle === r.owner.handle));
    if (settled.length) owners.push(rng.pick(settled));
    else await sleep(500, signal);
  }
  await Promise.all(owners.map((o, i) => runDataClient(w, `dp/${i}`, o, owners[(i + 1) % owners.length]!, tls, stats, signal)));
  return stats;
}

async function runDataClient(w: DataPlaneHost, name: string, mine: { room: string; owner: RunUser }, other: { room: string; owner: RunUser }, tls: object | undefined, stats: DataPlaneStats, signal: AbortSignal): Promise<void> {
  const u = mine.owner;
  let nc: NatsConnection | undefined;
  while (!nc && !signal.aborted) {
    try {
      nc = await connect({
        servers: w.cfg.nodes.map((n) => n.nats),
        authenticator: nkeyAuthenticator(nkeySeedFromRaw(Buffer.from(u.seed, 'hex'))),
        inboxPrefix: inboxPrefix(u.handle),
        ...(tls ? { tls } : {}),
        timeout: w.cfg.timeoutMs,
        ...WORKLOAD_RECONNECT,
        name,
      });
    } catch {
      await sleep(500, signal);
    }
  }
  if (!nc) return;
  const conn = nc;
  let lostAt: { invoke: number; wall: number } | null = null;
  const statusLoop = (async () => {
    for await (const s of conn.status()) {
      if (s.type === 'disconnect' && !lostAt) lostAt = { invoke: w.journal.now(), wall: Date.now() };
      if (s.type === 'reconnect' && lostAt) {
        w.journal.write({ client: name, node: nodeOf(w, conn), f: 'dp-reconnect', user: u.handle, invoke: lostAt.invoke, complete: w.journal.now(), wall: lostAt.wall, type: 'ok', status: 0 });
        lostAt = null;
      }
    }
  })();
  const subject = roomSubject(mine.room).replace(/>$/, 'chaos');
  const sub = conn.subscribe(roomSubject(mine.room), { callback: () => void stats.received++ });
  let nextCross = w.journal.now() + CROSS_EVERY_MS;
  try {
    for (let seq = 0; !signal.aborted; seq++) {
      // Closed for good (nats.js gave up): this client ends; the others go on.
      if (conn.isClosed()) {
        process.stderr.write(`data plane ${name}: connection closed; this client stops\n`);
        break;
      }
      await publishOne(w, conn, name, u, subject, seq, stats);
      if (w.journal.now() >= nextCross) {
        await tryCross(w, conn, name, u, other.room);
        nextCross = w.journal.now() + CROSS_EVERY_MS;
      }
      await sleep(PUBLISH_EVERY_MS, signal);
    }
  } finally {
    sub.unsubscribe();
    await conn.close().catch(() => undefined);
    await statusLoop.catch(() => undefined);
  }
}

async function publishOne(w: DataPlaneHost, nc: NatsConnection, name: string, u: RunUser, subject: string, seq: number, stats: DataPlaneStats): Promise<Op> {
  const wall = Date.now();
  const invoke = w.journal.now();
  let type: Op['type'] = 'ok';
  let error: string | undefined;
  try {
    nc.publish(subject, String(seq));
    await withBound(nc.flush(), w.cfg.timeoutMs);
    stats.published++;
  } catch (e) {
    type = 'info';
    error = (e as Error).message.slice(0, 80);
  }
  return w.journal.write({ client: name, node: nodeOf(w, nc), f: 'dp-publish', user: u.handle, key: subject, invoke, complete: w.journal.now(), wall, type, status: 0, ...(error ? { error } : {}) });
}

/**
 * Subscribes to another room's subject: the server must close it with a
 * permissions violation. A flush right after it is the proof either way: the
 * server answers the PING after it handled the SUB, and a refusal comes
 * before that answer. No answer within the bound (a frozen or unreachable
 * server) proves nothing: info.
 */
async function tryCross(w: DataPlaneHost, nc: NatsConnection, name: string, u: RunUser, room: string): Promise<Op> {
  const wall = Date.now();
  const invoke = w.journal.now();
  const subject = roomSubject(room);
  let sub: Subscription;
  try {
    sub = nc.subscribe(subject);
  } catch (e) {
    // A closed connection throws here rather than in a promise: nothing was asked.
    return w.journal.write({ client: name, node: nodeOf(w, nc), f: 'dp-cross', user: u.handle, key: subject, invoke, complete: w.journal.now(), wall, type: 'info', status: 0, error: (e as Error).message.slice(0, 80) });
  }
  const answered = await withBound(nc.flush(), CROSS_BOUND_MS).then(() => true, () => false);
  // The -ERR was read before the PONG; its close of the subscription may still be on its way.
  if (answered && !sub.isClosed()) await Promise.race([sub.closed, sleep(200)]);
  const refused = sub.isClosed();
  if (!refused) sub.unsubscribe();
  const type: Op['type'] = refused ? 'fail' : answered ? 'ok' : 'info';
  return w.journal.write({ client: name, node: nodeOf(w, nc), f: 'dp-cross', user: u.handle, key: subject, invoke, complete: w.journal.now(), wall, type, status: 0, ...(refused ? { error: 'refused' } : answered ? {} : { error: 'no answer' }) });
}

function withBound<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}
