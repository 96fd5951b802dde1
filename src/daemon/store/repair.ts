// Brings rooms, members and rooms_by_member back in step after requests that
// stopped half-way (a node killed between two writes, a write that timed out
// while quorum was lost): each room write is a sequence of writes to three
// buckets, and only the whole sequence is acknowledged.
//
// Invariants (what repair restores, rolling forward, never back):
// - A room (UNIBUS_rooms/<room>) has its members record, with its owner: a
//   create stopped after its first write gets the members record it would
//   have written (the owner alone).
// - Every member of a room is in rooms_by_member/<member>; every room an
//   index entry names exists and has that member. The members record is the
//   truth (rooms.ts), the index follows it.
// - Entries younger than `graceMs` are left alone: a request may be between
//   its writes right now, and will finish them itself.
// Each repair is a CAS write (updateJson), so repairs on several nodes at
// once, or beside a live request, converge.
// - The key listings are a guide, never the evidence: a listing is an
//   ordered consumer that nats-server may place on a replica that is behind,
//   and it then lacks recent keys (a local skew run, seed 343: a sweep that
//   listed members without recent rooms read them as having no members
//   record, took each such room's members to be its owner alone, and dropped
//   96 acknowledged rooms from their members' indexes on every replica).
//   Each repair is made only once the records it rests on, read again at the
//   stream leader, still call for it.
import type { KvEntry } from '@nats-io/kv';
import type { Store } from './buckets.js';
import { listKeys, readJson, updateJson } from './kvjson.js';
import type { MembersRecord, RoomRecord, RoomsOfMember } from '../../protocol/model.js';

export interface Repair {
  kind: 'members-record' | 'index-add' | 'index-drop';
  room: string;
  handle: string;
  /** In words, for the log and the chaos report. */
  what: string;
}

/** Leave entries this recent alone: a request may still be between its writes. */
export const REPAIR_GRACE_MS = 30_000;

/** How long ago the entry was last written; a missing one is as old as can be. */
async function ageMs(kvGet: () => Promise<KvEntry | null>): Promise<number> {
  const e = await kvGet();
  return e ? Date.now() - e.created.getTime() : Infinity;
}

/** How often each node looks (with up to a third more, at random, so that nodes do not look together). */
export const REPAIR_PERIOD_MS = 120_000;

/** Runs repairRooms every REPAIR_PERIOD_MS (jittered), logging each repair as it is made; a failed sweep waits for the next. */
export function startRepairs(store: Store, log: (line: string) => void, periodMs = REPAIR_PERIOD_MS): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      // Each repair is logged once written, so a sweep cut short still shows what it changed.
      void repairRooms(store, { onRepair: (r) => log(`repaired: ${r.what}`) })
        .catch((err: Error) => log(`room repair sweep failed, next in ${Math.round(periodMs / 1000)} s: ${err.message}`))
        .finally(next);
    }, periodMs + Math.floor(Math.random() * (periodMs / 3)));
    timer.unref();
  };
  next();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Finds (and unless `dryRun`, makes) every repair; returns them in order. */
export async function repairRooms(store: Store, o: { dryRun?: boolean; graceMs?: number; onRepair?: (r: Repair) => void } = {}): Promise<Repair[]> {
  const grace = o.graceMs ?? REPAIR_GRACE_MS;
  const out: Repair[] = [];
  const rooms = new Map<string, RoomRecord>();
  for (const k of await listKeys(store.kv.rooms)) {
    const r = await readJson<RoomRecord>(store.kv.rooms, k);
    if (r) rooms.set(k, r.value);
  }
  const members = new Map<string, MembersRecord>();
  for (const k of await listKeys(store.kv.members)) {
    const m = await readJson<MembersRecord>(store.kv.members, k);
    if (m) members.set(k, m.value);
  }
  // 1. A room without its members record: the owner alone, as createRoom writes it.
  for (const [name, room] of rooms) {
    if (members.has(name) || (await ageMs(() => store.kv.rooms.get(name))) < grace) continue;
    const rec: MembersRecord = { room: name, epoch: 1, rekey_required: false, members: { [room.owner]: { added_at: room.created_at, added_by: room.owner } } };
    const repair: Repair = { kind: 'members-record', room: name, handle: room.owner, what: `room ${name} had no members record: ${room.owner} (its owner) written as its member` };
    // The listing may have missed it (see the header): asked again, a record that exists is no repair.
    const now = await readJson<MembersRecord>(store.kv.members, name);
    if (now) {
      members.set(name, now.value);
      continue;
    }
    out.push(repair);
    if (!o.dryRun) {
      await updateJson<MembersRecord>(store.kv.members, name, (cur) => (cur ? undefined : rec));
      o.onRepair?.(repair);
    }
    members.set(name, rec);
  }
  // 2. The index follows the members records.
  const want = new Map<string, Set<string>>();
  for (const [name, m] of members) {
    if (!rooms.has(name)) continue;
    for (const h of Object.keys(m.members)) {
      let s = want.get(h);
      if (!s) want.set(h, (s = new Set()));
      s.add(name);
    }
  }
  // Whether `h` is a member of room `r` as the stream leaders answer now (the room and its members record read
  // again); a room still without a members record has the one step 1 gives it (written, or named in a dry run).
  const memberNow = async (r: string, h: string) => {
    if (!(await readJson<RoomRecord>(store.kv.rooms, r))) return false;
    const m = (await readJson<MembersRecord>(store.kv.members, r))?.value ?? members.get(r);
    return !!m?.members[h];
  };
  const handles = new Set([...want.keys(), ...(await listKeys(store.kv.roomsByMember))]);
  for (const h of [...handles].sort()) {
    const cur = await readJson<RoomsOfMember>(store.kv.roomsByMember, h);
    const have = new Set(cur?.value.rooms ?? []);
    const should = want.get(h) ?? new Set<string>();
    // A change whose evidence (the index entry, the room's records) is recent may be a request between its writes.
    const settled = async (r: string) => Math.min(await ageMs(() => store.kv.members.get(r)), await ageMs(() => store.kv.rooms.get(r))) >= grace;
    const add: string[] = [];
    for (const r of should) if (!have.has(r) && (await settled(r)) && (await memberNow(r, h))) add.push(r);
    const drop: string[] = [];
    for (const r of have) if (!should.has(r) && (await settled(r)) && !(await memberNow(r, h))) drop.push(r);
    if (!add.length && !drop.length) continue;
    if ((await ageMs(() => store.kv.roomsByMember.get(h))) < grace) continue;
    const these: Repair[] = [
      ...add.map((r): Repair => ({ kind: 'index-add', room: r, handle: h, what: `${h} is a member of ${r}: added to rooms_by_member.${h}` })),
      ...drop.map((r): Repair => ({ kind: 'index-drop', room: r, handle: h, what: `rooms_by_member.${h} named ${r}, where ${h} is no member: dropped` })),
    ];
    out.push(...these);
    if (o.dryRun) continue;
    await updateJson<RoomsOfMember>(store.kv.roomsByMember, h, (c) => {
      const rooms = new Set(c?.rooms ?? []);
      for (const r of add) rooms.add(r);
      for (const r of drop) rooms.delete(r);
      const next = [...rooms].sort();
      return c && next.join() === [...c.rooms].sort().join() ? undefined : { handle: h, rooms: next };
    });
    for (const r of these) o.onRepair?.(r);
  }
  return out;
}
