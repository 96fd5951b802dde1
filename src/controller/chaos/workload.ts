// The chaos workload: concurrent clients, each bound to one node, reading and
// writing through the /v1 API for the whole run, every operation journaled
// (history.ts) when it completes.
//
//   sets        workload users create rooms (the grow-only sets rooms(user));
//               rooms' owners add users of a pool to them (members(room),
//               and rooms(member), the member's list of rooms);
//               about `readShare` of the ops read those sets back
//   replays     accepted requests (reads and member adds, whose second 2xx
//               would show) sent again with their nonce to another node, at
//               once or later within the nonce's lifetime
//   revocation  every few seconds a throwaway user is added, used and
//               revoked; once the revoke is acknowledged it asks every node
//               over HTTP, and dials every node's NATS port with its nkey at
//               once and after the bound
//   data plane  NATS clients of workload users publish and subscribe on
//               their rooms' subjects, and try another room's (data-plane.ts)
//
// Invariants:
// - No op is retried: an op is one request, so the history says what each
//   request did. The next op of a client starts when the previous completed.
// - The run's users' seeds are in users.json (0600) beside the journal,
//   rewritten (atomically) when a writer is added, so that the checker can
//   read every set back as its owner.
// - A set stays small: a writer retires after roomsPerWriter rooms and a new
//   one (added by the admin) takes its place; reads pick among the writers
//   at work and those retired last.
// - Every wait is bounded (timeoutMs per request, maxSeconds for the run).
import { randomBytes } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { writeFileAtomic } from '../../util/fs.js';
import { dirname, join } from 'node:path';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { newNonce, nkeySeedFromRaw, rawPublicKey, UnibusClient } from '../../client/index.js';
import { pinnedTls } from '../../daemon/index.js';
import { sleep } from '../../util/time.js';
import { CLOCK_FILE, OPS_FILE, typeOfStatus, type Op, type OpKind } from './history.js';
import { Rng } from './random.js';
import { runDataPlane } from './data-plane.js';
import { runFloor } from './floor.js';

export const USERS_FILE = 'users.json';
export const CONFIG_FILE = 'workload.json';

export interface WorkloadNode {
  name: string;
  /** The node's control plane, http://IP:PORT. */
  url: string;
  /** The node's NATS client URL, tls://IP:PORT. */
  nats: string;
  /** The CA file that pins the node's server certificate (absent: the NATS port speaks no TLS). */
  ca?: string;
  /** The node's internal identity (out/<node>/internal.nk): the floor writer's (floor.ts). */
  seedFile?: string;
}

export interface WorkloadConfig {
  run: string;
  runDir: string;
  nodes: WorkloadNode[];
  /** An admin of the cluster: adds the run's users and revokes the probe's. */
  admin: { handle: string; keyFile: string };
  clientsPerNode: number;
  /** Share of ops that read (0-1). */
  readShare: number;
  /** How many users create rooms at a time. */
  writers: number;
  /**
   * Rooms a writer makes before a new writer takes its place: every read of
   * a set returns all of it, so sets are kept small and many (as Jepsen's
   * independent keys) and the history grows linearly with the run.
   */
  roomsPerWriter: number;
  /** How many users rooms' owners add as members. */
  pool: number;
  /** Bound of one request. */
  timeoutMs: number;
  /** The revocation probe's period (0: off). */
  revokeEveryMs: number;
  /** Data-plane NATS clients (0: none). */
  dataClients?: number;
  /** A write to the bare nats-server floor stream this often, in ms (floor.ts; 0: none). */
  floorEveryMs?: number;
  /** Share of accepted reads and member adds sent again (0: no replays). */
  replayShare: number;
  /** A replay goes out within this long of the original (the nonce's lifetime). */
  replayWithinMs: number;
  seed: number;
  /** The workload stops by itself after this long, whatever happens to the run that started it. */
  maxSeconds: number;
  /** The `unibus play` process: the workload stops when it is gone. */
  parentPid?: number;
}

export interface RunUser {
  handle: string;
  /** The Ed25519 seed, hex. */
  seed: string;
}

/** The run's names: short enough for HANDLE_RE and ROOM_RE, unique per run. */
export function namesOf(run: string) {
  const tag = run.replace(/-/g, '').slice(2); // YYMMDDHHMMSS
  return {
    writer: (i: number) => `w${tag}-${i}`,
    member: (i: number) => `m${tag}-${i}`,
    probe: (i: number) => `x${tag}-${i}`,
    room: (client: string, seq: number) => `r${tag}-${client.replace('/', '-')}-${seq}`,
  };
}

interface Sent {
  node: string;
  user: RunUser;
  method: string;
  path: string;
  body?: object;
  ts: number;
  nonce: string;
}

/** The journal, the clock and the clients: what every part of the workload shares. */
class Journal {
  #id = 0;
  readonly t0 = performance.now();
  constructor(private readonly file: string) {
    writeFileSync(join(dirname(file), CLOCK_FILE), JSON.stringify({ t0_wall: Date.now() - (performance.now() - this.t0) }) + '\n', { mode: 0o600 });
  }
  get count(): number {
    return this.#id;
  }
  now(): number {
    return performance.now() - this.t0;
  }
  write(o: Omit<Op, 'id'>): Op {
    const op = { id: ++this.#id, ...o };
    appendFileSync(this.file, JSON.stringify(op) + '\n', { mode: 0o600 });
    return op;
  }
}

export class Workload {
  readonly journal: Journal;
  readonly names;
  /** Every writer so far, in order of creation. */
  readonly writers: RunUser[];
  /** The writers that make rooms now. */
  readonly active: RunUser[];
  readonly pool: RunUser[];
  readonly #made = new Map<string, number>();
  #nextWriter: number;
  /** Rooms acknowledged so far, with their owners and when (the journal's clock). */
  readonly rooms: { room: string; owner: RunUser; at: number }[] = [];
  readonly replays: { due: number; req: Sent }[] = [];
  readonly #clients = new Map<string, UnibusClient>();

  constructor(
    readonly cfg: WorkloadConfig,
    readonly admin: RunUser,
  ) {
    this.journal = new Journal(join(cfg.runDir, OPS_FILE));
    this.names = namesOf(cfg.run);
    this.writers = Array.from({ length: cfg.writers }, (_, i) => newUser(this.names.writer(i)));
    this.active = [...this.writers];
    this.#nextWriter = cfg.writers;
    this.pool = Array.from({ length: cfg.pool }, (_, i) => newUser(this.names.member(i)));
  }

  /** The saves of users.json, one after another, so the file ends as the last one left it. */
  #saved: Promise<void> = Promise.resolve();

  /** Rewrites users.json (atomically, saves in order); resolves once this one is written. */
  saveUsers(): Promise<void> {
    const text = JSON.stringify({ writers: this.writers, pool: this.pool }, null, 1) + '\n';
    this.#saved = this.#saved.then(() => writeFileAtomic(join(this.cfg.runDir, USERS_FILE), text, 0o600));
    return this.#saved;
  }

  /** The writer of the next room; one that made its share retires, and a new one is added in the background. */
  writerFor(rng: Rng): RunUser {
    const u = this.active.length ? rng.pick(this.active) : rng.pick(this.writers);
    const made = (this.#made.get(u.handle) ?? 0) + 1;
    this.#made.set(u.handle, made);
    if (made >= this.cfg.roomsPerWriter && this.active.includes(u)) {
      this.active.splice(this.active.indexOf(u), 1);
      void this.addWriter(rng);
    }
    return u;
  }

  /** Whose room list a read asks for: mostly a recent writer (rooms it made), else a member of the pool (rooms it was added to, through the index add-member writes). */
  readerOf(rng: Rng): RunUser {
    if (this.pool.length && rng.chance(0.3)) return rng.pick(this.pool);
    return rng.pick(this.writers.slice(-2 * this.cfg.writers));
  }

  /** Adds a writer through the admin (a few tries); it joins the active ones once acknowledged. */
  async addWriter(rng: Rng): Promise<void> {
    const u = newUser(this.names.writer(this.#nextWriter++));
    for (let t = 0; t < 5; t++) {
      const { op } = await this.request('add-user', 'setup', this.sent(rng.pick(this.cfg.nodes).name, this.admin, 'POST', '/v1/users', userBody(u)), { key: u.handle });
      if (op.type === 'ok') {
        this.writers.push(u);
        this.active.push(u);
        await this.saveUsers();
        return;
      }
      await sleep(500);
    }
  }

  client(node: string, u: RunUser): UnibusClient {
    const k = `${node}\0${u.handle}`;
    let c = this.#clients.get(k);
    if (!c) {
      const n = this.cfg.nodes.find((x) => x.name === node)!;
      this.#clients.set(k, (c = new UnibusClient({ baseUrl: n.url, handle: u.handle, seed: Buffer.from(u.seed, 'hex'), timeoutMs: this.cfg.timeoutMs })));
    }
    return c;
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
  }

  /** Sends one signed request and journals it as op `f`; returns the op and the reply's JSON (ok ops). */
  /** How many ops are journaled. */
  get count(): number {
    return this.journal.count;
  }


  async request<T>(
    f: OpKind,
    client: string,
    req: Sent,
    o: { key?: string; value?: string; read?: (body: T) => string[] } = {},
  ): Promise<{ op: Op; body?: T }> {
    const wall = Date.now();
    const invoke = this.journal.now();
    let status = 0;
    let error: string | undefined;
    let message: string | undefined;
    let body: T | undefined;
    let read: string[] | undefined;
    try {
      const r = await this.client(req.node, req.user).raw(req.method, req.path, req.body, { nonce: req.nonce, ts: req.ts });
      status = r.status;
      if (status >= 200 && status < 300) {
        body = r.json<T>();
        if (o.read) read = o.read(body);
      } else {
        ({ code: error, message } = errorOf(r.body));
      }
    } catch (e) {
      const err = e as Error & { cause?: { code?: string }; code?: string };
      error = err.cause?.code ?? err.code ?? err.message;
    }
    const isRead = req.method === 'GET';
    const op = this.journal.write({
      client,
      node: req.node,
      f,
      user: req.user.handle,
      nonce: req.nonce,
      ...(o.key ? { key: o.key } : {}),
      ...(o.value ? { value: o.value } : {}),
      invoke,
      complete: this.journal.now(),
      wall,
      type: typeOfStatus(status, isRead),
      status,
      ...(error ? { error } : {}),
      ...(message ? { message } : {}),
      ...(read ? { read } : {}),
    });
    return { op, body };
  }

  /** A request as it would be signed now (fresh nonce, this clock). */
  sent(node: string, user: RunUser, method: string, path: string, body?: object): Sent {
    return { node, user, method, path, body, ts: Date.now(), nonce: newNonce() };
  }

  /** Queues an accepted request to be sent again to another node, at once or later within the nonce's lifetime. */
  maybeReplay(rng: Rng, req: Sent): void {
    if (!this.cfg.replayShare || !rng.chance(this.cfg.replayShare)) return;
    // To another node; a cluster of one gets it back itself.
    const others = this.cfg.nodes.length > 1 ? this.cfg.nodes.filter((n) => n.name !== req.node) : this.cfg.nodes;
    const later = rng.chance(0.5) ? rng.real(0, this.cfg.replayWithinMs) : 0;
    this.replays.push({ due: this.journal.now() + later, req: { ...req, node: rng.pick(others).name } });
  }
}

function newUser(handle: string): RunUser {
  return { handle, seed: randomBytes(32).toString('hex') };
}

function userBody(u: RunUser): object {
  return { handle: u.handle, sign_pub: rawPublicKey(Buffer.from(u.seed, 'hex')).toString('hex'), role: 'member' };
}

/** The error's code and, shortened, its message (the history says why a request was refused). */
function errorOf(body: Uint8Array): { code?: string; message?: string } {
  try {
    const e = (JSON.parse(Buffer.from(body).toString('utf8')) as { error?: { code?: string; message?: string } }).error;
    return { code: e?.code, message: e?.message?.slice(0, 160) };
  } catch {
    return {};
  }
}

const roomsRead = (b: { rooms: string[] }) => b.rooms;
const membersRead = (b: { members: { handle: string }[] }) => b.members.map((m) => m.handle);

/** One client: bound to `node`, one op at a time until the signal. */
async function runClient(w: Workload, node: string, name: string, rng: Rng, signal: AbortSignal): Promise<void> {
  let seq = 0;
  let misses = 0;
  while (!signal.aborted) {
    // A node that refuses or does not answer is asked again after a pause that grows to a second, not in a tight loop.
    if (misses) await sleep(Math.min(1000, 50 * 2 ** misses), signal);
    const op = await runOneOp(w, node, name, rng, () => ++seq);
    misses = op.type === 'ok' ? 0 : Math.min(misses + 1, 5);
  }
}

async function runOneOp(w: Workload, node: string, name: string, rng: Rng, nextSeq: () => number): Promise<Op> {
  const room = w.rooms.length ? rng.pick(w.rooms) : null;
  const read = rng.chance(w.cfg.readShare);
  if (read && room && rng.chance(0.5)) {
    const req = w.sent(node, room.owner, 'GET', `/v1/rooms/${room.room}`);
    const { op } = await w.request('read-members', name, req, { key: `members:${room.room}`, read: membersRead });
    if (op.type === 'ok') w.maybeReplay(rng, req);
    return op;
  }
  if (read) {
    const u = w.readerOf(rng);
    const req = w.sent(node, u, 'GET', '/v1/rooms');
    const { op } = await w.request('read-rooms', name, req, { key: `rooms:${u.handle}`, read: roomsRead });
    if (op.type === 'ok') w.maybeReplay(rng, req);
    return op;
  }
  if (room && rng.chance(0.4)) {
    const m = rng.pick(w.pool).handle;
    const req = w.sent(node, room.owner, 'POST', `/v1/rooms/${room.room}/members`, { handle: m });
    const { op } = await w.request('add-member', name, req, { key: `members:${room.room}`, value: m });
    if (op.type === 'ok') w.maybeReplay(rng, req);
    return op;
  }
  const u = w.writerFor(rng);
  const r = w.names.room(name, nextSeq());
  const { op } = await w.request('add-room', name, w.sent(node, u, 'POST', '/v1/rooms', { name: r }), { key: `rooms:${u.handle}`, value: r });
  if (op.type === 'ok') w.rooms.push({ room: r, owner: u, at: op.complete });
  return op;
}

/** Sends the queued replays when they are due. */
async function runReplays(w: Workload, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const now = w.journal.now();
    const due = w.replays.filter((r) => r.due <= now);
    w.replays.splice(0, w.replays.length, ...w.replays.filter((r) => r.due > now));
    for (const { req } of due) {
      if (signal.aborted) return;
      await w.request('replay', 'replay', req);
    }
    await sleep(100, signal);
  }
}

/** Dials a node's NATS port with a user's nkey, journaled as nats-connect (ok: the server let it in). */
async function dialNats(w: Workload, node: WorkloadNode, u: RunUser, client: string): Promise<Op> {
  const wall = Date.now();
  const invoke = w.journal.now();
  let ok = false;
  let error: string | undefined;
  try {
    const seed = nkeySeedFromRaw(Buffer.from(u.seed, 'hex'));
    const nc = await connect({ servers: node.nats, authenticator: nkeyAuthenticator(seed), ...(node.ca ? { tls: await pinnedTls(node.nats, node.ca) } : {}), timeout: w.cfg.timeoutMs, reconnect: false, maxReconnectAttempts: 0 });
    // The server may close a connection it let in once its authorization is reloaded: a round trip proves it is in.
    await nc.flush();
    ok = true;
    await nc.close();
  } catch (e) {
    error = (e as Error).message.slice(0, 120);
  }
  return w.journal.write({ client, node: node.name, f: 'nats-connect', key: u.handle, user: u.handle, invoke, complete: w.journal.now(), wall, type: ok ? 'ok' : 'fail', status: 0, ...(error ? { error } : {}) });
}

/** Every `revokeEveryMs`: a user added, used, revoked; after the revoke, refused everywhere. */
async function runRevocations(w: Workload, rng: Rng, signal: AbortSignal): Promise<void> {
  const name = 'revoke';
  for (let i = 0; !signal.aborted; i++) {
    await sleep(w.cfg.revokeEveryMs, signal);
    if (signal.aborted) return;
    const x = newUser(w.names.probe(i));
    const node = () => rng.pick(w.cfg.nodes).name;
    const added = await w.request('add-user', name, w.sent(node(), w.admin, 'POST', '/v1/users', userBody(x)), { key: x.handle });
    if (added.op.type !== 'ok') continue;
    await w.request('user-request', name, w.sent(node(), x, 'GET', '/v1/users/me'), { key: x.handle });
    let revoked = false;
    for (let t = 0; t < 5 && !revoked && !signal.aborted; t++) {
      revoked = (await w.request('revoke', name, w.sent(node(), w.admin, 'POST', `/v1/users/${x.handle}/revoke`), { key: x.handle })).op.type === 'ok';
      if (!revoked) await sleep(500, signal);
    }
    if (!revoked) continue;
    await Promise.all(w.cfg.nodes.map((n) => w.request('user-request', name, w.sent(n.name, x, 'GET', '/v1/users/me'), { key: x.handle })));
    await Promise.all(w.cfg.nodes.map((n) => dialNats(w, n, x, name)));
    await sleep(2500, signal);
    if (signal.aborted) return;
    await Promise.all(w.cfg.nodes.map((n) => dialNats(w, n, x, name)));
  }
}

/** Adds the run's users through the admin (bounded): the sets' owners and the members' pool. */
async function addRunUsers(w: Workload, rng: Rng, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (const u of [...w.writers, ...w.pool]) {
    for (;;) {
      if (signal.aborted) return;
      const { op } = await w.request('add-user', 'setup', w.sent(rng.pick(w.cfg.nodes).name, w.admin, 'POST', '/v1/users', userBody(u)), { key: u.handle });
      if (op.type === 'ok') break;
      if (Date.now() > deadline) throw new Error(`could not add the run's user ${u.handle} within 60 s (last: ${op.status} ${op.error ?? ''})`);
      await sleep(500, signal);
    }
  }
}

/** Runs until `signal` aborts; resolves once every op in flight is journaled. */
export async function runWorkload(cfg: WorkloadConfig, adminSeed: Uint8Array, signal: AbortSignal): Promise<{ ops: number }> {
  const w = new Workload(cfg, { handle: cfg.admin.handle, seed: Buffer.from(adminSeed).toString('hex') });
  const rng = Rng.of(cfg.seed);
  try {
    await w.saveUsers();
    await addRunUsers(w, rng.split(), signal);
    const parts: Promise<void>[] = [];
    for (const n of cfg.nodes) for (let i = 0; i < cfg.clientsPerNode; i++) parts.push(runClient(w, n.name, `${n.name}/${i}`, rng.split(), signal));
    if (cfg.replayShare > 0) parts.push(runReplays(w, signal));
    if (cfg.revokeEveryMs > 0) parts.push(runRevocations(w, rng.split(), signal));
    if (cfg.floorEveryMs) parts.push(runFloor(w, signal).then((s) => console.log(`floor: ${s.ok} of ${s.sent} writes acknowledged`)));
    if (cfg.dataClients) parts.push(runDataPlane(w, rng.split(), cfg.dataClients, signal).then((s) => console.log(`data plane: ${s.published} published, ${s.received} received`)));
    await Promise.all(parts);
  } finally {
    w.close();
  }
  return { ops: w.count };
}
