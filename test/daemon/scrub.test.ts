// membershipd's scrub (src/daemon/nats/scrub.ts): how a copy is judged from
// its reads, and, against three real nats-servers each run by its own
// supervisor, a follower's bit-flipped copy (counts whole, so the replica
// audit cannot see it) found by reading it and rebuilt from its peers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Scrub, scrubCopy, scrubReads, SCRUB_BATCH_MS, SCRUB_EVERY_MS, SOON_MS, type ScrubOptions } from '../../src/daemon/nats/scrub.js';
import type { ReplicaCopy } from '../../src/daemon/nats/copy-reader.js';
import { superviseThree } from '../harness/supervised.js';
import { damageBlock } from '../harness/damage.js';
import { sleep } from '../../src/util/time.js';

/** A fake cluster: each stream's replicas, and what each read of this node's copy gives, in turn. */
function fake(replicas: Record<string, string[] | Error>, reads: Record<string, (ReplicaCopy | Error)[]>, held: Record<string, number | null> = {}) {
  const rebuilt: string[] = [];
  const logged: string[] = [];
  const asked: { stream: string; batchMs: number }[] = [];
  const o: ScrubOptions = {
    me: 'n2',
    streams: () => Object.keys(replicas),
    replicasOf: async (s) => {
      const r = replicas[s]!;
      if (r instanceof Error) throw r;
      return r;
    },
    ownState: async (s) => (s in held ? (held[s] === null ? null : { messages: held[s]!, last_seq: held[s]! }) : { messages: 0, last_seq: 0 }),
    readOwn: async (s, batchMs) => {
      asked.push({ stream: s, batchMs });
      const r = reads[s]!.shift()!;
      if (r instanceof Error) throw r;
      return r;
    },
    rebuild: (s, why) => rebuilt.push(`${s}: ${why}`),
    log: (l) => logged.push(l),
  };
  return { o, rebuilt, logged, asked };
}
const copy = (messages: number): ReplicaCopy => ({ node: 'n2', messages, lastSeq: messages, digest: 'd' });
const stopped = (n: number) => new Error(`n2's copy stopped answering after ${n} messages`);

test('scrubCopy: a copy read whole is whole; one that stops twice is damaged; a stop then a whole read is whole; a lost reader or an unanswered leader leaves it unread; a copy not here is not read', async () => {
  const f = fake(
    { A: ['n1', 'n2', 'n3'], B: ['n2', 'n1', 'n3'], C: ['n1', 'n2', 'n3'], D: ['n1', 'n2', 'n3'], E: new Error('timeout'), F: ['n1', 'n3'], G: ['n2'] },
    { A: [copy(300)], B: [stopped(120), stopped(120)], C: [stopped(5), copy(301)], D: [new Error("n2's reader was lost after 3 messages")], E: [], F: [], G: [] },
  );
  assert.deepEqual(await scrubCopy(f.o, 'A'), { stream: 'A', kind: 'whole', messages: 300, lastSeq: 300 });
  const b = await scrubCopy(f.o, 'B');
  assert.equal(b.kind, 'damaged');
  assert.match((b as { why: string }).why, /did not read whole to a reader here, twice \(n2's copy stopped answering after 120 messages; then n2's copy stopped answering after 120 messages\)/);
  assert.deepEqual(await scrubCopy(f.o, 'C'), { stream: 'C', kind: 'whole', messages: 301, lastSeq: 301 });
  assert.deepEqual(await scrubCopy(f.o, 'D'), { stream: 'D', kind: 'unread', why: "n2's reader was lost after 3 messages" });
  assert.deepEqual(await scrubCopy(f.o, 'E'), { stream: 'E', kind: 'unread', why: 'its leader did not answer: timeout' });
  // Not a replica here; the only copy (never moved aside): neither is read.
  assert.deepEqual(await scrubCopy(f.o, 'F'), { stream: 'F', kind: 'not here' });
  assert.deepEqual(await scrubCopy(f.o, 'G'), { stream: 'G', kind: 'not here' });
  assert.deepEqual(f.asked.map((a) => a.stream), ['A', 'B', 'B', 'C', 'C', 'D']);
  assert.ok(f.asked.every((a) => a.batchMs === SCRUB_BATCH_MS));
  assert.deepEqual(f.rebuilt, [], 'scrubCopy judges; only a round rebuilds');
});

test("scrubCopy: a reader that ended before the last sequence this node's monitor gave (a store still loading) leaves the copy unread, not whole; a copy the monitor does not list is not read", async () => {
  const f = fake({ A: ['n1', 'n2', 'n3'], B: ['n1', 'n2', 'n3'], C: ['n1', 'n2', 'n3'] }, { A: [copy(120)], B: [], C: [copy(300)] }, { A: 300, B: null, C: 300 });
  assert.deepEqual(await scrubCopy(f.o, 'A'), { stream: 'A', kind: 'unread', why: 'its reader ended at sequence 120, before the 300 the copy held' });
  assert.deepEqual(await scrubCopy(f.o, 'B'), { stream: 'B', kind: 'unread', why: "this node's monitor does not list its copy" });
  assert.deepEqual(await scrubCopy(f.o, 'C'), { stream: 'C', kind: 'whole', messages: 300, lastSeq: 300 });
  assert.deepEqual(f.asked.map((a) => a.stream), ['A', 'C']);
  // A reader promised nothing by a copy of 200 (its index damaged; it reads as an empty copy at the last sequence): read again, then damaged.
  const empty: ReplicaCopy = { node: 'n2', messages: 0, lastSeq: 400 };
  const g = fake({ D: ['n1', 'n2', 'n3'], E: ['n1', 'n2', 'n3'] }, { D: [empty, empty], E: [empty, copy(400)] }, {});
  g.o.ownState = async () => ({ messages: 200, last_seq: 400 });
  const d = await scrubCopy(g.o, 'D');
  assert.equal(d.kind, 'damaged');
  assert.match((d as { why: string }).why, /twice \(n2's copy delivered 0 of the 200 messages it holds to a reader here; then n2's copy delivered 0 of the 200/);
  assert.deepEqual(await scrubCopy(g.o, 'E'), { stream: 'E', kind: 'whole', messages: 400, lastSeq: 400 });
});

test('Scrub.round: each damaged copy is handed to rebuild and logged; a round that left a copy unread comes again after SOON_MS, else after about SCRUB_EVERY_MS', async () => {
  const f = fake({ A: ['n1', 'n2', 'n3'], B: ['n1', 'n2', 'n3'] }, { A: [copy(10)], B: [stopped(4), stopped(4)] });
  const s = new Scrub(f.o);
  const v = await s.round();
  assert.deepEqual(v.map((x) => x.kind), ['whole', 'damaged']);
  assert.equal(f.rebuilt.length, 1);
  assert.match(f.rebuilt[0]!, /^B: its copy did not read whole/);
  assert.ok(f.logged.some((l) => /^scrub: B: .*rebuilding it from its peers$/.test(l)), f.logged.join('\n'));
  assert.ok(s.nextInMs >= SCRUB_EVERY_MS * 0.9 && s.nextInMs <= SCRUB_EVERY_MS, String(s.nextInMs));

  const g = fake({ A: ['n1', 'n2', 'n3'], B: new Error('no responders') }, { A: [copy(10)], B: [] });
  const t = new Scrub(g.o);
  await t.round();
  assert.equal(t.nextInMs, SOON_MS);
  assert.deepEqual(g.rebuilt, []);
  assert.ok(g.logged.some((l) => /left unread.*B \(its leader did not answer: no responders\)/.test(l)), g.logged.join('\n'));
});

/** The connection's JetStream manager, asked again while the meta group elects its leader (30 s at most). */
async function manager(nc: Awaited<ReturnType<typeof connect>>): Promise<JetStreamManager> {
  for (let t = 0; ; t++) {
    const jsm = await jetstreamManager(nc, { timeout: 5000 }).catch((e: Error) => e);
    if (!(jsm instanceof Error)) return jsm;
    if (t > 60) throw jsm;
    await sleep(500);
  }
}

test("a follower's bit-flipped copy, whole in its counts, is found by the scrub's read and rebuilt from its peers; the healthy copies read whole", { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-scrub-'));
  const { urls, lines, supervisor } = await superviseThree(dir, 'scrub');
  const sups = [0, 1, 2].map(supervisor);
  await Promise.all(sups.map((s) => s.start()));
  const nc = await connect({ servers: urls, timeout: 5000, reconnect: true, maxReconnectAttempts: -1 });
  const own: Awaited<ReturnType<typeof connect>>[] = [];
  try {
    const jsm = await manager(nc);
    let kv;
    for (let k = 0; ; k++) {
      kv = await new Kvm(nc).create('SCRUB', { replicas: 3, history: 1 }).catch((e: Error) => e);
      if (!(kv instanceof Error)) break;
      if (k > 60) throw kv;
      await sleep(500);
    }
    for (let i = 0; i < 300; i++) await kv.put(`k${i}`, JSON.stringify({ i, pad: 'x'.repeat(200) }));
    let info = await jsm.streams.info('KV_SCRUB');
    const leader = info.cluster!.leader!;
    const f = [0, 1, 2].find((i) => `n${i}` !== leader && info.cluster!.replicas!.some((r) => r.name === `n${i}` && r.current))!;
    assert.notEqual(f, undefined, JSON.stringify(info.cluster));
    const scrubOf = (i: number, nci: Awaited<ReturnType<typeof connect>>) => {
      let m: Promise<JetStreamManager> | null = null;
      return new Scrub({ me: `n${i}`, streams: () => ['KV_SCRUB'], ...scrubReads(nci, `n${i}`, () => (m ??= manager(nci)), sups[i]!.monitorPort), rebuild: (s, why) => sups[i]!.rebuildDamagedCopy(s, why), log: (l) => lines[i]!.push(l) });
    };

    // Healthy: every copy reads whole, each the leader's count.
    for (const i of [0, 1, 2]) own[i] = await connect({ servers: urls[i]!, timeout: 5000 });
    for (const i of [0, 1, 2]) {
      const v = await scrubOf(i, own[i]!).round();
      assert.deepEqual(v, [{ stream: 'KV_SCRUB', kind: 'whole', messages: 300, lastSeq: 300 }], `n${i}`);
    }

    // n_f stopped, 8 bytes of its last block inverted, started again: the counts are whole.
    await own[f]!.close();
    await sups[f]!.stop(2000, 10_000);
    const msgs = join(dir, `n${f}`, 'jetstream', '$G', 'streams', 'KV_SCRUB', 'msgs');
    damageBlock(join(msgs, (await readdir(msgs)).filter((x) => x.endsWith('.blk')).sort((a, b) => parseInt(a) - parseInt(b)).at(-1)!), 'bitflip');
    sups[f] = supervisor(f);
    await sups[f]!.start();
    own[f] = await connect({ servers: urls[f]!, timeout: 5000 });
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(250)) {
      info = await jsm.streams.info('KV_SCRUB');
      if (info.cluster?.replicas?.some((r) => r.name === `n${f}` && r.current)) break;
    }
    const counted = (await (await manager(own[f]!)).streams.info('KV_SCRUB')).state;
    t.diagnostic(`n${f} back, its leader counts ${info.state.messages}; nothing read the damaged block yet: ${lines[f]!.filter((l) => /corrupt|moved aside/.test(l)).length} lines of it`);
    assert.equal(counted.messages, 300);
    assert.ok(!lines[f]!.some((l) => /moved aside/.test(l)), 'moved aside before anything read it');

    // The scrub's read finds it (its reader stops, or nats-server names the corrupt bytes as it loads them); the copy is moved aside and rebuilt.
    const v = await scrubOf(f, own[f]!).round();
    t.diagnostic(JSON.stringify(v));
    const seen = () => lines[f]!.some((l) => /KV_SCRUB: .*copy moved aside to .*quarantine.*KV_SCRUB, rejoining empty/.test(l));
    for (const until = Date.now() + 60_000; Date.now() < until && !seen(); ) await sleep(250);
    t.diagnostic(lines[f]!.filter((l) => /scrub|corrupt|moved aside|restart/.test(l)).join(' | '));
    assert.ok(seen(), lines[f]!.join('\n'));

    // Rejoined empty and sent the whole stream again: its copy reads whole, every value as written.
    let after: unknown = null;
    for (const until = Date.now() + 60_000; Date.now() < until; await sleep(500)) {
      const c = await scrubOf(f, own[f]!).round().catch(() => null);
      after = c?.[0] ?? null;
      if ((after as { kind?: string } | null)?.kind === 'whole' && (after as { messages: number }).messages === 300) break;
    }
    assert.deepEqual(after, { stream: 'KV_SCRUB', kind: 'whole', messages: 300, lastSeq: 300 });
    for (let i = 0; i < 300; i += 37) assert.equal(JSON.parse(new TextDecoder().decode((await kv.get(`k${i}`))!.value)).i, i);
  } finally {
    for (const c of own) await c?.close().catch(() => undefined);
    await nc.close().catch(() => undefined);
    await Promise.all(sups.map((s) => s.stop(1000, 5000)));
    await rm(dir, { recursive: true, force: true });
  }
});
