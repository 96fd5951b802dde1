// The chaos checker: what a run's history (history.ts) proves of unibus's
// promises. Pure: a history in, one result per property out, each with its
// counts and its first examples.
//
// Invariants:
// - A set is named by its key (`rooms:<user>`, `members:<room>`); it only grows.
//   What was in it before the run: members(room) starts with the user who
//   made the room; every other set starts empty (the run's users and rooms
//   are new).
// - An add is acknowledged when its op is ok. An info add may or may not have
//   happened: it may be seen or not, and is never counted as lost; a fail add
//   must never be seen.
// - "Before" is the workload's monotonic clock: an add completed before a read
//   was invoked must be in that read.
import type { FaultRecord, Op } from './history.js';
import { diverged, type StreamCopies } from './copies.js';
import { HEAL_SLACK_S } from './victims.js';

export const EXAMPLES = 5;

export interface PropertyResult {
  /** What was checked (reads, acknowledged adds, nonces, ...). */
  checked: number;
  violations: number;
  /** The first violations, in words. */
  examples: string[];
  /** Why the property could not be exercised (nothing to check), when it could not. */
  unexercised?: string;
}

export interface Distribution {
  n: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export interface FaultSummary {
  id: number;
  name: string;
  family: string;
  start: number;
  end: number;
  ops: number;
  ok: number;
  fail: number;
  info: number;
  /** From the injection to the first acknowledged write invoked after it (ms); null: none came. */
  unavailable_ms: number | null;
  /**
   * The same for the bare nats-server floor stream (floor.ts: JetStream
   * written without membershipd, its leader put on a killed stream leader):
   * what nats-server alone took. Absent: the run wrote no floor.
   */
  floor_ms?: number | null;
  /** The longest data-plane outage that began inside it: connection lost to reconnected (ms); null: none lost. */
  reconnect_ms: number | null;
  /**
   * The clients' reads and writes inside it to the nodes it left serving
   * (neither down, frozen nor cut from the majority), and how many of them
   * were not answered ok: what "lose one node and keep serving" is measured
   * by (replays and a revoked user's requests, refused on purpose, are not
   * counted).
   */
  elsewhere?: { ops: number; not_ok: number };
}

export interface CheckResult {
  ops: { total: number; ok: number; fail: number; info: number; by_kind: Record<string, { ok: number; fail: number; info: number; errors: Record<string, number> }> };
  properties: {
    /** Every acknowledged add is in the final read of its set through every node. */
    lost: PropertyResult;
    /** Every read holds every add acknowledged before it began; reads that do not overlap never go backwards. */
    stale: PropertyResult;
    /** Every element a read returned was attempted (and not refused). */
    phantom: PropertyResult;
    /** No 2xx from a node inside a window where it had no quorum. */
    no_quorum: PropertyResult & { refused: number };
    /** At most one 2xx per nonce. */
    replay: PropertyResult;
    /** No 2xx for a request of a revoked user sent after the revoke was acknowledged; its NATS connections refused within the bound. */
    revocation: PropertyResult;
    /** Every acknowledged add is in every replica's copy (each read while it led). */
    replica_lost?: PropertyResult;
    /** Every replica of every stream holds the same messages (count, last sequence, digest). */
    /** `settled`: copies whose new leader first answered short of what it then held (applying its log), not violations. */
    convergence?: PropertyResult & { settled: string[] };
    /**
     * rooms, members and rooms_by_member agree, in every replica's copy. A
     * mismatch left by an unknown write (a request stopped between its
     * writes) is not a violation: it is listed in `repairs` with the repair
     * membershipd makes (daemon/store/repair.ts). Rooms this run did not
     * write are not judged: `outside` counts their mismatches, seen in passing
     * (per replica).
     */
    invariants?: PropertyResult & { repairs: string[]; outside: number };
    /** Data plane (when it ran): no subscription to a room the user is not a member of let in. */
    data_plane?: PropertyResult & { published: number; reconnects: Distribution };
  };
  /** Per acknowledged add: how long after it began a read could still miss it (ms; 0 when none did). */
  visibility: Distribution;
  /** Latency of ok control-plane requests (ms). */
  latency: Distribution;
  faults: FaultSummary[];
}

/** Bound within which a revoked user's NATS connections must be refused everywhere (ms). */
export const REVOKE_NATS_BOUND_MS = 2000;

const WRITES = new Set(['add-room', 'add-member', 'add-user', 'revoke']);
/** The workload clients' own requests, each one a user would expect served. */
const CLIENT_OPS = new Set(['add-room', 'add-member', 'read-rooms', 'read-members']);
const isRead = (o: Op) => o.f === 'read-rooms' || o.f === 'read-members' || o.f === 'final-read';

export function distribution(values: number[]): Distribution {
  if (!values.length) return { n: 0, p50: null, p99: null, max: null };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s.at(-1)! };
}

class Tally implements PropertyResult {
  checked = 0;
  violations = 0;
  examples: string[] = [];
  unexercised?: string;
  add(text: () => string): void {
    this.violations++;
    if (this.examples.length < EXAMPLES) this.examples.push(text());
  }
  toJSON(): PropertyResult {
    return { checked: this.checked, violations: this.violations, examples: this.examples, ...(this.unexercised ? { unexercised: this.unexercised } : {}) };
  }
}

const ms = (t: number) => `${(t / 1000).toFixed(3)} s`;
const opName = (o: Op) => `op ${o.id} (${o.f}${o.value ? ` ${o.value}` : ''} via ${o.node}, ${ms(o.invoke)}-${ms(o.complete)})`;

interface SetHistory {
  adds: Op[];
  reads: Op[];
  initial: Set<string>;
}

/** The adds and reads of each set, and what each set held before the run. */
function setsOf(ops: Op[]): Map<string, SetHistory> {
  const sets = new Map<string, SetHistory>();
  const of = (key: string) => {
    let s = sets.get(key);
    if (!s) sets.set(key, (s = { adds: [], reads: [], initial: new Set() }));
    return s;
  };
  for (const o of ops) {
    if (!o.key) continue;
    if (o.f === 'add-room' || o.f === 'add-member') of(o.key).adds.push(o);
    else if (isRead(o)) of(o.key).reads.push(o);
    // A member added to a room has it in its own list of rooms (the index write of the same request).
    if (o.f === 'add-member' && o.value && o.key.startsWith('members:')) of(`rooms:${o.value}`).adds.push({ ...o, key: `rooms:${o.value}`, value: o.key.slice('members:'.length) });
    // The room's maker is its first member.
    if (o.f === 'add-room' && o.value && o.user && o.type !== 'fail') of(`members:${o.value}`).initial.add(o.user);
  }
  return sets;
}

function checkSets(ops: Op[], lost: Tally, stale: Tally, phantom: Tally, visibility: number[]): void {
  for (const [key, s] of setsOf(ops)) {
    const acked = s.adds.filter((a) => a.type === 'ok').sort((a, b) => a.complete - b.complete);
    const attempted = new Set([...s.initial, ...s.adds.filter((a) => a.type !== 'fail').map((a) => a.value!)]);
    const refused = new Set(s.adds.filter((a) => a.type === 'fail').map((a) => a.value!));
    const okReads = s.reads.filter((r) => r.type === 'ok' && r.read);
    // Reads by invoke time; a second cursor over reads by completion keeps what every read completed so far has shown.
    const byInvoke = [...okReads].sort((a, b) => a.invoke - b.invoke);
    const byComplete = [...okReads].sort((a, b) => a.complete - b.complete);
    const shown = new Map<string, Op>();
    let c = 0;
    for (const r of byInvoke) {
      stale.checked++;
      const has = new Set(r.read);
      const missing = new Set<string>();
      for (const a of acked) {
        if (a.complete >= r.invoke) break;
        if (has.has(a.value!)) continue;
        missing.add(a.value!);
        stale.add(() => `${key}: ${opName(r)} lacks ${a.value}, acknowledged by ${opName(a)} before the read began`);
      }
      for (; c < byComplete.length && byComplete[c]!.complete < r.invoke; c++) for (const v of byComplete[c]!.read!) if (!shown.has(v)) shown.set(v, byComplete[c]!);
      for (const [v, earlier] of shown) {
        if (!has.has(v) && !missing.has(v)) stale.add(() => `${key}: ${opName(r)} lacks ${v}, which ${opName(earlier)} had already returned (a read went backwards)`);
      }
      for (const v of r.read!) {
        if (!attempted.has(v)) phantom.add(() => `${key}: ${opName(r)} returned ${v}, ${refused.has(v) ? 'whose add was refused' : 'which nothing added'}`);
      }
    }
    phantom.checked += okReads.length;
    // Visibility: how long after an add began a read could still miss it (0: no read missed it).
    // Reads that began after the add completed must hold it (stale otherwise), so this is bounded by the add's latency.
    for (const a of acked) {
      let lag = 0;
      for (const r of byInvoke) {
        if (r.invoke < a.invoke) continue;
        if (r.invoke >= a.complete) break;
        if (!r.read!.includes(a.value!)) lag = r.invoke - a.invoke;
      }
      visibility.push(lag);
    }
    // Lost: the final read of this set through each node must hold every acknowledged add.
    const finals = s.reads.filter((r) => r.f === 'final-read');
    if (!finals.length) continue;
    const nodes = [...new Set(finals.map((r) => r.node))].sort();
    for (const node of nodes) {
      const okFinal = finals.filter((r) => r.node === node && r.type === 'ok').at(-1);
      lost.checked += acked.length;
      if (!okFinal) {
        if (acked.length) lost.add(() => `${key}: no final read through ${node} answered: ${acked.length} acknowledged adds unproven there`);
        continue;
      }
      const has = new Set(okFinal.read);
      for (const a of acked) if (!has.has(a.value!)) lost.add(() => `${key}: ${a.value}, acknowledged by ${opName(a)}, is missing on ${node}`);
    }
  }
}

/** The control plane's answers: what a node may only give with quorum (the data plane and NATS dials are not). */
const API_OPS = new Set<Op['f']>(['add-room', 'read-rooms', 'add-member', 'read-members', 'replay', 'add-user', 'revoke', 'user-request']);

/**
 * In combined mode a pause holds only until a later fault (a kill, a
 * restart, a corruption's stop and start) starts one of its frozen nodes
 * afresh, or until the watchdog of an earlier pause that had already frozen
 * one of them thaws it (a freeze of a stopped process is a no-op: the earlier
 * watchdog stays in charge, from the earlier window's end on). Its no-quorum
 * window ends there. Seen in a combined run: a pause-majority of n2 and n3
 * that began while n2 was still frozen by an earlier one let its minority
 * (n1) commit once that earlier watchdog thawed n2, and it was counted
 * against n1.
 */
export function quorumWindows(faults: FaultRecord[]): FaultRecord[] {
  const shares = (f: FaultRecord, g: FaultRecord) => g.targets.some((n) => f.targets.includes(n));
  return faults
    .filter((f) => f.no_quorum.length)
    .map((f) => {
      if (f.family !== 'pause') return f;
      const ends = [
        ...faults.filter((g) => RESTARTS.has(g.family) && g.start >= f.start && g.start < f.end && shares(f, g)).map((g) => g.start),
        // The earlier watchdog fires HEAL_SLACK_S after the earlier window's end at the latest (victims.ts).
        ...faults.filter((g) => g !== f && g.family === 'pause' && g.start <= f.start && g.end + HEAL_SLACK_S * 1000 > f.start && g.end < f.end && shares(f, g)).map((g) => Math.max(g.end, f.start)),
      ];
      return ends.length ? { ...f, end: Math.min(...ends) } : f;
    });
}
const RESTARTS = new Set(['kill', 'restart', 'corrupt']);

function checkQuorum(ops: Op[], faults: FaultRecord[], t: Tally): number {
  let refused = 0;
  const windows = quorumWindows(faults);
  for (const o of ops) {
    if (!API_OPS.has(o.f)) continue;
    for (const f of windows) {
      if (!f.no_quorum.includes(o.node) || o.invoke < f.start || o.complete > f.end) continue;
      t.checked++;
      if (o.type === 'ok') t.add(() => `${o.node} answered ${o.status} to ${opName(o)} inside "${f.name}" (${ms(f.start)}-${ms(f.end)}), where it had no quorum`);
      else refused++;
    }
  }
  if (!windows.length) t.unexercised = 'no fault left a node without quorum';
  else if (!t.checked) t.unexercised = 'no request reached a node while it had no quorum';
  return refused;
}

function checkReplays(ops: Op[], t: Tally): void {
  const byNonce = new Map<string, Op[]>();
  for (const o of ops) {
    if (!o.nonce) continue;
    const all = byNonce.get(o.nonce);
    if (all) all.push(o);
    else byNonce.set(o.nonce, [o]);
  }
  for (const [nonce, all] of byNonce) {
    if (all.length < 2) continue;
    t.checked++;
    const ok = all.filter((o) => o.type === 'ok');
    if (ok.length > 1) t.add(() => `nonce ${nonce} accepted ${ok.length} times: ${ok.map(opName).join(', ')}`);
  }
  if (!t.checked) t.unexercised = 'no request was sent again';
}

function checkRevocation(ops: Op[], t: Tally): void {
  const revokedAt = new Map<string, number>();
  for (const o of ops) if (o.f === 'revoke' && o.type === 'ok' && o.key) revokedAt.set(o.key, Math.min(revokedAt.get(o.key) ?? Infinity, o.complete));
  for (const o of ops) {
    if (o.f !== 'user-request' && o.f !== 'nats-connect') continue;
    const at = o.key ? revokedAt.get(o.key) : undefined;
    if (at === undefined) continue;
    const bound = o.f === 'nats-connect' ? at + REVOKE_NATS_BOUND_MS : at;
    if (o.invoke <= bound) continue;
    t.checked++;
    if (o.type === 'ok') t.add(() => `${o.key}, revoked at ${ms(at)}, was served by ${o.node}: ${opName(o)}`);
  }
  if (!revokedAt.size) t.unexercised = 'no user was revoked';
}

/** The data plane: every subscription to another user's room refused (fail), none let in (ok); outages measured. */
function checkDataPlane(ops: Op[]): NonNullable<CheckResult['properties']['data_plane']> | undefined {
  const dp = ops.filter((o) => o.f.startsWith('dp-'));
  if (!dp.length) return undefined;
  const t = new Tally();
  for (const o of dp) {
    if (o.f !== 'dp-cross' || o.type === 'info') continue;
    t.checked++;
    if (o.type === 'ok') t.add(() => `${o.user} was let in to ${o.key}, a room it is no member of: ${opName(o)}`);
  }
  if (!t.checked) t.unexercised = 'no subscription to another room was tried';
  const reconnects = distribution(dp.filter((o) => o.f === 'dp-reconnect').map((o) => o.complete - o.invoke));
  return { ...t.toJSON(), published: dp.filter((o) => o.f === 'dp-publish' && o.type === 'ok').length, reconnects };
}

/**
 * Of the acknowledged writes invoked at `start` or after, the one acknowledged
 * first: writes run side by side, and one sent early may be held (a try at a
 * dead leader) while a later one is already answered.
 */
function firstAcknowledged(writes: Op[], start: number): Op | undefined {
  let first: Op | undefined;
  for (const w of writes) if (w.invoke >= start && (!first || w.complete < first.complete)) first = w;
  return first;
}

function faultSummaries(ops: Op[], faults: FaultRecord[], floorOps: Op[]): FaultSummary[] {
  const writes = ops.filter((o) => WRITES.has(o.f) && o.type === 'ok').sort((a, b) => a.invoke - b.invoke);
  const outages = ops.filter((o) => o.f === 'dp-reconnect');
  const floor = floorOps.filter((o) => o.type === 'ok').sort((a, b) => a.invoke - b.invoke);
  const wroteFloor = floorOps.length > 0;
  return faults.map((f) => {
    const firstFloor = firstAcknowledged(floor, f.start);
    const inside = ops.filter((o) => API_OPS.has(o.f) && o.invoke <= f.end && o.complete >= f.start);
    const first = firstAcknowledged(writes, f.start);
    const lost = outages.filter((o) => o.invoke >= f.start && o.invoke <= f.end).map((o) => o.complete - o.invoke);
    // A partition's rules are on every node (its targets) but cut off only the ones without quorum; other faults stop or freeze their targets.
    const out = new Set([...f.no_quorum, ...(f.family === 'partition' ? [] : f.targets)]);
    // The clients' reads and writes only: a replay or a revoked user's request is refused on purpose.
    const serving = inside.filter((o) => CLIENT_OPS.has(o.f) && !out.has(o.node));
    return {
      id: f.id,
      name: f.name,
      family: f.family,
      start: f.start,
      end: f.end,
      ops: inside.length,
      ok: inside.filter((o) => o.type === 'ok').length,
      fail: inside.filter((o) => o.type === 'fail').length,
      info: inside.filter((o) => o.type === 'info').length,
      unavailable_ms: first ? first.complete - f.start : null,
      ...(wroteFloor ? { floor_ms: firstFloor ? firstFloor.complete - f.start : null } : {}),
      reconnect_ms: lost.length ? Math.max(...lost) : null,
      elsewhere: { ops: serving.length, not_ok: serving.filter((o) => o.type !== 'ok').length },
    };
  });
}

/** Per kind of op: its outcomes, and what the failed and unknown ones answered (status or error code). */
function byKind(ops: Op[]): CheckResult['ops']['by_kind'] {
  const out: CheckResult['ops']['by_kind'] = {};
  for (const o of ops) {
    const k = (out[o.f] ??= { ok: 0, fail: 0, info: 0, errors: {} });
    k[o.type]++;
    if (o.type !== 'ok') {
      const why = o.error ?? String(o.status);
      k.errors[why] = (k.errors[why] ?? 0) + 1;
    }
  }
  return out;
}

/** A copy's JSON values, each decoded once and mapped by `pick` (undefined when the copy was not read; a value that is not JSON reads as `{}`). */
function decoded<T, R>(kv: Map<string, string> | undefined, pick: (v: T) => R): Map<string, R> | undefined {
  if (!kv) return undefined;
  const out = new Map<string, R>();
  for (const [k, text] of kv) {
    let v: T;
    try {
      v = JSON.parse(text) as T;
    } catch {
      v = {} as T;
    }
    out.set(k, pick(v ?? ({} as T)));
  }
  return out;
}

/** Each replica's copy against the acknowledged adds, against the other replicas, and against itself. */
function checkCopies(ops: Op[], copies: StreamCopies[]): { replica_lost: PropertyResult; convergence: PropertyResult & { settled: string[] }; invariants: PropertyResult & { repairs: string[]; outside: number } } {
  const lost = new Tally();
  const conv = new Tally();
  const inv = new Tally();
  for (const s of copies) {
    conv.checked += s.copies.length;
    for (const d of diverged(s)) conv.add(() => d);
  }
  const byStream = new Map(copies.map((s) => [s.stream.replace(/^KV_UNIBUS_/, ''), s]));
  const nodes = [...new Set(copies.flatMap((s) => s.copies.map((c) => c.node)))].sort();
  const kvOf = (bucket: string, node: string) => byStream.get(bucket)?.copies.find((c) => c.node === node)?.kv;
  const acked = ops.filter((o) => (o.f === 'add-room' || o.f === 'add-member') && o.type === 'ok' && o.key && o.value);
  // The rooms this run wrote: only they are judged (other rooms' writes are not in this history).
  const ours = new Set(ops.filter((o) => o.f === 'add-room' || o.f === 'add-member').map((o) => (o.f === 'add-room' ? o.value! : o.key!.slice('members:'.length))));
  let outside = 0;
  // Rooms that an unknown write touched: its create, or a member add to it.
  const unknownOn = new Set(ops.filter((o) => o.type === 'info' && (o.f === 'add-room' || o.f === 'add-member')).map((o) => (o.f === 'add-room' ? o.value! : o.key!.slice('members:'.length))));
  const repairs = new Map<string, string>();
  for (const node of nodes) {
    // Each copy's values decoded once: an index's rooms, a room's members, a room's owner.
    const roomsIndex = decoded(kvOf('rooms_by_member', node), (v: { rooms?: string[] }) => v.rooms ?? []);
    const membersOf = decoded(kvOf('members', node), (v: { members?: Record<string, unknown> }) => v.members);
    const ownerOf = decoded(kvOf('rooms', node), (v: { owner?: string }) => v.owner);
    for (const a of acked) {
      lost.checked++;
      if (a.f === 'add-room') {
        if (roomsIndex && !(roomsIndex.get(a.key!.slice('rooms:'.length)) ?? []).includes(a.value!)) lost.add(() => `${a.key}: ${a.value}, acknowledged by ${opName(a)}, is missing in ${node}'s copy of rooms_by_member`);
      } else if (membersOf && !(a.value! in (membersOf.get(a.key!.slice('members:'.length)) ?? {}))) {
        lost.add(() => `${a.key}: ${a.value}, acknowledged by ${opName(a)}, is missing in ${node}'s copy of members`);
      }
    }
    if (!roomsIndex || !membersOf || !ownerOf) continue;
    // The three buckets agree: a room has its members record with its owner; each member's index names the room, and each index entry is a membership.
    // A mismatch that an unknown (info) write on the room explains is that write stopped half-way: named with its repair, not a violation.
    const mismatch = (room: string, text: string, repair: string) => {
      if (!ours.has(room)) {
        outside++;
        return;
      }
      inv.checked++;
      if (unknownOn.has(room)) {
        if (!repairs.has(`${room}\0${repair}`)) repairs.set(`${room}\0${repair}`, `${text}, left by an unknown write to ${room}: ${repair}`);
      } else inv.add(() => `${node}: ${text}`);
    };
    for (const [room, owner] of ownerOf) {
      const m = membersOf.get(room);
      if (!m) mismatch(room, `room ${room} has no members record`, `members record written with its owner ${owner}`);
      else if (owner && !(owner in m)) mismatch(room, `room ${room}'s owner ${owner} is not among its members`, 'none (an owner is never removed): to look into');
      else inv.checked++;
    }
    for (const [room, m] of membersOf) {
      for (const h of Object.keys(m ?? {})) {
        if (!(roomsIndex.get(h) ?? []).includes(room)) mismatch(room, `${h} is a member of ${room}, but rooms_by_member.${h} does not name it`, `${room} added to rooms_by_member.${h}`);
        else inv.checked++;
      }
    }
    for (const [h, rooms] of roomsIndex) {
      for (const room of rooms) {
        if (!(h in (membersOf.get(room) ?? {}))) mismatch(room, `rooms_by_member.${h} names ${room}, where ${h} is no member`, `${room} dropped from rooms_by_member.${h}`);
        else inv.checked++;
      }
    }
  }
  if (!nodes.length) lost.unexercised = conv.unexercised = inv.unexercised = 'no replica could be read';
  const settled = copies.flatMap((s) => s.copies.filter((c) => c.firstAnswered !== undefined).map((c) => `${s.stream} on ${c.node}: first last seq ${c.firstAnswered}, then ${c.lastSeq}`));
  return { replica_lost: lost.toJSON(), convergence: { ...conv.toJSON(), settled }, invariants: { ...inv.toJSON(), repairs: [...repairs.values()], outside } };
}

/** Checks a run's history against every property; with `copies`, every replica's copy too. */
export function checkHistory(history: Op[], faults: FaultRecord[], copies?: StreamCopies[]): CheckResult {
  // The floor's writes are nats-server's, not the system's under test: counted apart, beside each fault only.
  const ops = history.filter((o) => o.f !== 'floor-write');
  const floor = history.filter((o) => o.f === 'floor-write');
  const lost = new Tally();
  const stale = new Tally();
  const phantom = new Tally();
  const noQuorum = new Tally();
  const replay = new Tally();
  const revocation = new Tally();
  const visibility: number[] = [];
  checkSets(ops, lost, stale, phantom, visibility);
  if (!lost.checked) lost.unexercised = 'no final read after healing';
  const refused = checkQuorum(ops.filter((o) => o.f !== 'final-read'), faults, noQuorum);
  checkReplays(ops, replay);
  checkRevocation(ops, revocation);
  const dataPlane = checkDataPlane(ops);
  return {
    ops: { total: ops.length, ok: ops.filter((o) => o.type === 'ok').length, fail: ops.filter((o) => o.type === 'fail').length, info: ops.filter((o) => o.type === 'info').length, by_kind: byKind(ops) },
    properties: {
      lost: lost.toJSON(),
      stale: stale.toJSON(),
      phantom: phantom.toJSON(),
      no_quorum: { ...noQuorum.toJSON(), refused },
      replay: replay.toJSON(),
      revocation: revocation.toJSON(),
      ...(copies ? checkCopies(ops, copies) : {}),
      ...(dataPlane ? { data_plane: dataPlane } : {}),
    },
    visibility: distribution(visibility),
    latency: distribution(ops.filter((o) => o.type === 'ok' && API_OPS.has(o.f)).map((o) => o.complete - o.invoke)),
    faults: faultSummaries(ops, faults, floor),
  };
}

/** The violations of every property, counted. */
export function violationsOf(r: CheckResult): number {
  return Object.values(r.properties).reduce((n, p) => n + (p?.violations ?? 0), 0);
}

/** One line: the counts, then each property with a violation and its first example. */
export function formatCheck(r: CheckResult): string {
  const p = r.properties;
  const dp = p.data_plane ? `; data plane: cross-room let in ${p.data_plane.violations} (${p.data_plane.checked} tried), ${p.data_plane.published} published, reconnect p50 ${p.data_plane.reconnects.p50?.toFixed(0) ?? '-'} max ${p.data_plane.reconnects.max?.toFixed(0) ?? '-'} ms` : '';
  const replicas = p.convergence ? `; replicas: lost ${p.replica_lost!.violations}, diverged ${p.convergence.violations}, invariants ${p.invariants!.violations} (${p.convergence.checked} copies read; ${p.invariants!.repairs.length} half-done unknown writes to repair${p.convergence.settled.length ? `; ${p.convergence.settled.length} new leaders answered short at first: ${p.convergence.settled[0]}` : ''})` : '';
  const counts = `ops ${r.ops.total} (ok ${r.ops.ok}, fail ${r.ops.fail}, info ${r.ops.info}); lost ${p.lost.violations}, stale ${p.stale.violations}, phantom ${p.phantom.violations}, served-without-quorum ${p.no_quorum.violations} (refused ${p.no_quorum.refused}), replays-accepted ${p.replay.violations}, revocation ${p.revocation.violations}${replicas}${dp}`;
  const bad = Object.entries(p).filter(([, v]) => v?.violations).map(([k, v]) => `${k}: ${v!.examples[0]}${v!.violations > 1 ? ` (and ${v!.violations - 1} more)` : ''}`);
  return bad.length ? `${counts}. VIOLATED: ${bad.join('; ')}` : counts;
}
