// The deep check's read of every replica (play verify --tags deep, the
// chaos check's read-back) on a cluster holding ROOMS rooms: three real
// nats-servers on loopback configured as membershipd configures them
// (test/harness/nats-server.ts), the control-plane buckets at R3 filled
// through the internal identity (one value per room in rooms, members and
// rooms_by_member; USERS users), then readAllReplicas timed RUNS times.
//   ROOMS=10000 RUNS=3 node --import tsx bench/deep-check.ts
// Prints each run's seconds and messages read per second, and whether the
// copies were equal. NATS_SERVER_BIN runs another nats-server release.
import { Kvm } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import { BUCKETS } from '../src/daemon/index.js';
import { diverged } from '../src/controller/chaos/copies.js';
import { readAllReplicas, REPLICA_STREAMS } from '../src/controller/chaos/replicas.js';
import { connectInternal, makeInternal } from '../test/harness/control-plane.js';
import { makeServers, startServers, stopServers } from '../test/harness/nats-server.js';
import { sleep } from '../src/util/time.js';

const ROOMS = Number(process.env.ROOMS ?? 10_000);
const USERS = Number(process.env.USERS ?? 100);
const RUNS = Number(process.env.RUNS ?? 3);
const id = makeInternal();
const servers = await makeServers({ hosts: ['127.0.0.91', '127.0.0.92', '127.0.0.93'], internalNkey: id.publicKey });
await startServers(servers);
const nc = await connectInternal(servers.map((s) => s.url), id);
try {
  const kvm = new Kvm(jetstream(nc, { timeout: 10_000 }));
  const open = async (name: string) => {
    for (let t = 0; ; t++) {
      const kv = await kvm.create(name, { replicas: 3, history: 1 }).catch((e: Error) => (t > 60 ? Promise.reject(e) : undefined));
      if (kv) return kv;
      await sleep(500);
    }
  };
  const [users, rooms, members, index] = await Promise.all([BUCKETS.users, BUCKETS.rooms, BUCKETS.members, BUCKETS.roomsByMember].map(open));
  await open(BUCKETS.nonces);
  const t0 = Date.now();
  const puts: Promise<unknown>[] = [];
  const flush = async () => void (await Promise.all(puts.splice(0)));
  for (let u = 0; u < USERS; u++) puts.push(users!.put(`u${u}`, JSON.stringify({ handle: `u${u}`, pubkey: 'ab'.repeat(32), role: 'member' })));
  for (let r = 0; r < ROOMS; r++) {
    const owner = `u${r % USERS}`;
    puts.push(rooms!.put(`r${r}`, JSON.stringify({ owner, created: Date.now() })));
    puts.push(members!.put(`r${r}`, JSON.stringify({ members: { [owner]: { role: 'owner' }, [`u${(r + 1) % USERS}`]: { role: 'member' } } })));
    if (puts.length >= 600) await flush();
  }
  for (let u = 0; u < USERS; u++) puts.push(index!.put(`u${u}`, JSON.stringify({ rooms: Array.from({ length: Math.ceil(ROOMS / USERS) }, (_, i) => `r${u + i * USERS}`) })));
  await flush();
  console.log(`filled: ${USERS} users, ${ROOMS} rooms (rooms, members), ${USERS} index entries in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (let run = 1; run <= RUNS; run++) {
    const t = Date.now();
    const copies = await readAllReplicas(nc, REPLICA_STREAMS);
    const s = (Date.now() - t) / 1000;
    const msgs = copies.reduce((n, c) => n + c.copies.reduce((m, x) => m + (x.digest ? x.messages : 0), 0), 0);
    const wrong = copies.flatMap(diverged);
    console.log(`run ${run}: ${s.toFixed(1)} s, ${copies.reduce((n, c) => n + c.copies.length, 0)} copies, ${msgs} messages read (${Math.round(msgs / s)}/s), ${wrong.length ? `DIVERGED: ${wrong.join('; ')}` : 'every copy equal'}`);
  }
} finally {
  await nc.close().catch(() => undefined);
  await stopServers(servers);
}
