// The final reads of a run, after healing: every set the workload wrote
// (rooms of each writer, members of each room that was acknowledged) read
// through every node, as its owner. They are ops like the run's own
// (history.ts, f: final-read), timed after every op of the run, so the
// checker holds them to the same rules: each must show every acknowledged
// add, and nothing a read had shown before.
//
// A node that does not answer (5xx, no reply) is asked again, bounded; a 4xx
// is its answer. Only the last attempt per node and set counts as its final
// read, but every attempt is kept.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UnibusClient } from '../../client/index.js';
import { mapLimit } from '../../util/process.js';
import { sleep } from '../../util/time.js';
import { typeOfStatus, type Op } from './history.js';
import type { RunUser, WorkloadNode } from './workload.js';
import { USERS_FILE } from './workload.js';

/** The signing seed of a key file (64 hex digits, mode 0600), as `unibus api --key-file` reads it. */
export async function readSeedFile(file: string): Promise<Uint8Array> {
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) throw new Error(`${file}: mode ${(st.mode & 0o777).toString(8)} is too open for a signing seed (expected 600)`);
  const text = (await readFile(file, 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file}: expected a 32-byte Ed25519 seed as 64 lowercase hex digits`);
  return Buffer.from(text, 'hex');
}

export async function readRunUsers(runDir: string): Promise<{ writers: RunUser[]; pool: RunUser[] }> {
  return JSON.parse(await readFile(join(runDir, USERS_FILE), 'utf8')) as { writers: RunUser[]; pool: RunUser[] };
}

interface Target {
  key: string;
  f_of: 'read-rooms' | 'read-members';
  owner: RunUser;
  path: string;
  read: (body: unknown) => string[];
}

/** The sets to read back: each writer's and each pool member's rooms, and the members of every room an op acknowledged. */
function targetsOf(ops: Op[], writers: RunUser[], pool: RunUser[]): Target[] {
  const byHandle = new Map(writers.map((u) => [u.handle, u]));
  const out: Target[] = [...writers, ...pool].map((u) => ({ key: `rooms:${u.handle}`, f_of: 'read-rooms', owner: u, path: '/v1/rooms', read: (b) => (b as { rooms: string[] }).rooms }));
  const rooms = new Map<string, RunUser>();
  for (const o of ops) {
    if (o.type !== 'ok' || !o.user) continue;
    const owner = byHandle.get(o.user);
    if (!owner) continue;
    if (o.f === 'add-room' && o.value) rooms.set(o.value, owner);
    if (o.f === 'add-member' && o.key?.startsWith('members:')) rooms.set(o.key.slice(8), owner);
  }
  for (const [room, owner] of rooms) {
    out.push({ key: `members:${room}`, f_of: 'read-members', owner, path: `/v1/rooms/${room}`, read: (b) => (b as { members: { handle: string }[] }).members.map((m) => m.handle) });
  }
  return out;
}

/** Reads every set through every node; returns the final-read ops, timed after `after`. */
export async function finalReads(ops: Op[], writers: RunUser[], pool: RunUser[], nodes: Pick<WorkloadNode, 'name' | 'url'>[], o: { tries?: number; concurrency?: number; timeoutMs?: number } = {}): Promise<Op[]> {
  const tries = o.tries ?? 5;
  const after = ops.reduce((m, x) => Math.max(m, x.complete), 0);
  let id = ops.reduce((m, x) => Math.max(m, x.id), 0);
  let clock = after;
  const tick = () => ++clock;
  const out: Op[] = [];
  const targets = targetsOf(ops, writers, pool);
  // The nodes side by side, each with its own `concurrency` requests in flight.
  await Promise.all(nodes.map(async (n) => {
    const clients = new Map<string, UnibusClient>();
    const clientOf = (u: RunUser) => {
      let c = clients.get(u.handle);
      if (!c) clients.set(u.handle, (c = new UnibusClient({ baseUrl: n.url, handle: u.handle, seed: Buffer.from(u.seed, 'hex'), timeoutMs: o.timeoutMs ?? 5000 })));
      return c;
    };
    await mapLimit(targets, o.concurrency ?? 6, async (t) => {
      for (let i = 1; ; i++) {
        const invoke = tick();
        const wall = Date.now();
        let status = 0;
        let read: string[] | undefined;
        let error: string | undefined;
        try {
          const r = await clientOf(t.owner).raw('GET', t.path);
          status = r.status;
          if (status >= 200 && status < 300) read = t.read(r.json());
        } catch (e) {
          error = (e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
        }
        out.push({ id: ++id, client: 'final', node: n.name, f: 'final-read', f_of: t.f_of, key: t.key, user: t.owner.handle, invoke, complete: tick(), wall, type: typeOfStatus(status, true), status, ...(error ? { error } : {}), ...(read ? { read } : {}) });
        if ((status >= 200 && status < 500) || i >= tries) return;
        await sleep(300 * i);
      }
    });
    for (const c of clients.values()) c.close();
  }));
  return out;
}
