// Nonces in memory (--nonce-store memory) on a replicated store: the rule
// that decides whether a nonce history may serve, and, on a real 3-node
// cluster, that losing a replica loses nothing while losing every replica at
// once refuses signed requests (and a replay) instead of accepting them into
// an empty history; moving the bucket between disk and memory.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from '@nats-io/nats-core';
import type { StreamInfo } from '@nats-io/jetstream';
import { makeServers, startServers, stopServers, waitClusterFormed, type TestNatsServer } from '../harness/nats-server.js';
import { connectInternal, makeInternal, openTestStore } from '../harness/control-plane.js';
import type { Store } from '../../src/daemon/store/buckets.js';
import { ApiError } from '../../src/protocol/errors.js';
import { claimKey, claimNonce, nonceHistoryOf } from '../../src/daemon/store/nonces.js';
import { TimeoutError } from '@nats-io/nats-core';
import { createJson } from '../../src/daemon/store/kvjson.js';
import { HISTORY_MARK, HISTORY_NEEDED_MS, NonceHistory, historyId, historyVerdict, lostMark } from '../../src/daemon/store/nonce-history.js';
import { moveNonces, readReplicas, scaleSteps } from '../../src/controller/admin/scale.js';
import { NONCE_STREAM as NONCES, NONCE_TTL_MS, nonceStorage } from '../../src/daemon/store/buckets.js';
import { nanos } from '@nats-io/transport-node';
import { sleep } from '../../src/util/time.js';


function info(o: { storage?: string; replicas?: number; leader?: string; messages?: number; firstSeq?: number; firstTs?: string; lastSeq?: number; mark?: string }): StreamInfo {
  return {
    config: { name: NONCES, storage: o.storage ?? 'memory', num_replicas: o.replicas ?? 3, metadata: o.mark === undefined ? undefined : { [HISTORY_MARK]: o.mark } },
    cluster: { leader: o.leader ?? 'n1' },
    state: { messages: o.messages ?? 5, first_seq: o.firstSeq ?? 1, last_seq: o.lastSeq ?? 5, first_ts: o.firstTs ?? new Date(1_000_000).toISOString() },
  } as unknown as StreamInfo;
}

describe('the rule', () => {
  const t0 = 1_000_000;
  const young = t0 + HISTORY_NEEDED_MS - 5_000;
  const LOST = lostMark(t0);
  test('nonces are in memory only when asked for and replicated', () => {
    assert.equal(nonceStorage(3), 'file');
    assert.equal(nonceStorage(3, 'memory'), 'memory');
    assert.equal(nonceStorage(5, 'memory'), 'memory');
    assert.equal(nonceStorage(1, 'memory'), 'file');
  });
  test('a file-backed history serves, unless marked lost less than twice the window ago', () => {
    assert.deepEqual(historyVerdict(info({ storage: 'file', leader: '', messages: 0 }), 3, t0), { ok: true, lastSeq: 5 });
    const r = historyVerdict(info({ storage: 'file', mark: LOST }), 3, t0 + 1000);
    assert.match(!r.ok ? r.reason : '', /nonce history was lost .* about 129 s more/);
    assert.equal(historyVerdict(info({ storage: 'file', mark: LOST }), 3, t0 + HISTORY_NEEDED_MS).ok, true);
  });
  test('no leader, or no message yet: ask again (after a beat)', () => {
    const v1 = historyVerdict(info({ leader: '' }), 3, t0);
    assert.equal(v1.ok === false && v1.retry, 'leader');
    // A node still flagged R1 after scale-r3 goes by the stream's own replicas.
    const v3 = historyVerdict(info({ leader: '', replicas: 3 }), 1, t0);
    assert.equal(v3.ok === false && v3.retry, 'leader');
    assert.equal(historyVerdict(info({ leader: '', replicas: 1, mark: `1@${new Date(1_000_000).toISOString()}` }), 1, t0).ok, true);
    const v2 = historyVerdict(info({ messages: 0 }), 3, t0);
    assert.equal(v2.ok === false && v2.retry, 'beat');
  });
  test('a memory history as old as twice the window plus the clock margin serves, and a lost mark only holds that long', () => {
    assert.equal(historyVerdict(info({ mark: `1@${new Date(t0 - 1).toISOString()}` }), 3, t0 + HISTORY_NEEDED_MS).ok, true);
    assert.equal(historyVerdict(info({ mark: `1@${new Date(t0 - 1).toISOString()}` }), 3, t0 + HISTORY_NEEDED_MS - 1).ok, false);
    assert.equal(historyVerdict(info({ mark: lostMark(t0 + 60_000) }), 3, t0 + HISTORY_NEEDED_MS).ok, false, 'marked lost after the history began');
    assert.equal(historyVerdict(info({ mark: lostMark(t0 + 60_000) }), 3, t0 + 60_000 + HISTORY_NEEDED_MS).ok, true);
  });
  test('a younger one serves only when it is the marked one; unmarked, it asks to be marked first', () => {
    const si = info({});
    const v = historyVerdict(si, 3, young);
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.markWith, historyId(si));
    assert.deepEqual(historyVerdict(info({ mark: historyId(si) }), 3, young), { ok: true, lastSeq: 5 });
    for (const mark of [LOST, `1@${new Date(t0 - 1).toISOString()}`]) {
      const r = historyVerdict(info({ mark }), 3, young);
      assert.equal(r.ok, false, mark);
      assert.match(!r.ok ? r.reason : '', /nonce history was lost .* about 5 s more/);
      assert.equal(!r.ok && (r.markWith ?? r.retry), undefined, 'a lost history is never marked over or retried');
      assert.equal(!r.ok && r.lost, true);
    }
  });
  test('scale-r3 moves the nonce stream to the storage asked for and scales the others', () => {
    const have = [
      { name: NONCES, replicas: 1, storage: 'file' },
      { name: 'KV_UNIBUS_users', replicas: 1, storage: 'file' },
      { name: 'KV_UNIBUS_rooms', replicas: 3, storage: 'file' },
    ];
    assert.deepEqual(scaleSteps(have, 3), [`${NONCES} R1`, 'KV_UNIBUS_users R1']);
    assert.deepEqual(scaleSteps(have, 3, 'memory'), [`${NONCES} R1 file -> R3 memory`, 'KV_UNIBUS_users R1']);
    assert.deepEqual(scaleSteps([{ name: NONCES, replicas: 3, storage: 'memory' }], 3, 'memory'), []);
    assert.deepEqual(scaleSteps([{ name: NONCES, replicas: 3, storage: 'memory' }], 3), [`${NONCES} R3 memory -> R3 file`]);
    assert.deepEqual(scaleSteps([{ name: NONCES, replicas: 1, storage: 'file' }], 1, 'memory'), []);
  });
});

test('a claim acknowledged while a check is on its way is not a lost history', async () => {
  let answer!: (si: StreamInfo) => void;
  const updates: unknown[] = [];
  const jsm = {
    streams: {
      info: () => new Promise<StreamInfo>((r) => (answer = r)),
      update: async (_: string, cfg: unknown) => void updates.push(cfg),
    },
  };
  const t = Date.now();
  const h = new NonceHistory(jsm as never, {} as never, NONCES, 3, { timeoutMs: 5000 });
  h.accept({ askedAt: t, lastSeq: 0 }, 400);
  const checking = h.confirm();
  h.accept({ askedAt: t, lastSeq: 0 }, 999); // acknowledged after the check was asked
  answer(info({ storage: 'file', lastSeq: 500 }));
  assert.deepEqual(await checking, { askedAt: (await checking).askedAt, lastSeq: 500 });
  assert.deepEqual(updates, [], 'nothing marked');
  // Below what was acknowledged before asking: lost, and marked so.
  const again = new NonceHistory(jsm as never, {} as never, NONCES, 3, { timeoutMs: 5000 });
  again.accept({ askedAt: t, lastSeq: 0 }, 600);
  const lost = again.confirm();
  answer(info({ storage: 'file', lastSeq: 500 }));
  await new Promise((r) => setImmediate(r));
  answer(info({ storage: 'file', lastSeq: 500, mark: lostMark(Date.now()) }));
  await assert.rejects(lost, /nonce history was lost/);
  assert.match(JSON.stringify(updates), /lost@\d+/);
});

describe('on a real 3-node cluster', () => {
  let servers: TestNatsServer[] = [];
  let nc: NatsConnection;
  let store: Store;
  const id = makeInternal();
  let n = 0;
  const nonce = () => `hist${String(++n).padStart(12, '0')}`;
  const isCode = (c: string, re?: RegExp) => (e: unknown) => e instanceof ApiError && e.code === c && (!re || re.test(e.message));

  before(async () => {
    servers = await makeServers({ hosts: ['127.0.0.71', '127.0.0.72', '127.0.0.73'], internalNkey: id.publicKey, syncInterval: 'always' });
    await startServers(servers);
    nc = await connectInternal(servers.map((s) => s.url), id);
    store = await openTestStore(nc, 3, 'memory');
  });

  after(async () => {
    await nc?.close().catch(() => {});
    await stopServers(servers);
  });

  const leaderOf = async () => (await store.jsm.streams.info(NONCES)).cluster?.leader;
  async function untilLeader(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await leaderOf().catch(() => undefined)) return;
      await sleep(200);
    }
    throw new Error(`no ${NONCES} leader within ${timeoutMs} ms`);
  }

  test('the nonce stream is in memory; the first claim marks its history, and claims are refused twice as ever', async () => {
    const si0 = await store.jsm.streams.info(NONCES);
    assert.equal(si0.config.storage, 'memory');
    const h = nonceHistoryOf(store);
    await h.beat();
    const first = nonce();
    await claimNonce(store, 'alice', first, Date.now());
    const si = await store.jsm.streams.info(NONCES);
    assert.equal(si.config.metadata?.[HISTORY_MARK], historyId(si), 'marked with its own first message');
    await assert.rejects(claimNonce(store, 'alice', first, Date.now()), isCode('replay'));
  });

  test('a claim whose answer was lost is sent again: ours when the first was stored, a replay when the key is another claim\'s', async () => {
    // The stream leader's answer lost, as in a hand-off: `send` says whether the try reaches the stream before its answer is lost.
    const lossy = (send: boolean): Store => {
      let tries = 0;
      const js = new Proxy(store.js, {
        get: (t, k) => (k === 'publish' ? async (...a: Parameters<Store['js']['publish']>) => (++tries === 1 ? (send ? await t.publish(...a) : undefined, Promise.reject(new TimeoutError())) : t.publish(...a)) : Reflect.get(t, k)),
      });
      return { ...store, js };
    };
    const key = `alice.${nonce()}`;
    const seq = await claimKey(lossy(true), key, 1, 'claim-a');
    assert.equal(typeof seq, 'number', 'the first try stored it: the claim is ours');
    assert.equal((await store.kv.nonces.get(key))?.revision, seq);
    assert.equal(await claimKey(lossy(false), key, 2, 'claim-b'), false, 'another claim of the same nonce whose first try was lost: a replay');
    assert.equal(await claimKey(store, key, 3, 'claim-a'), false, 'a first try that finds the key is a replay, whatever it carries');
    const fresh = `alice.${nonce()}`;
    assert.equal(typeof (await claimKey(lossy(false), fresh, 4, 'claim-c')), 'number', 'a first try that never arrived: the second stores it');
  });

  test('a restart of the stream leader loses nothing: the history keeps its mark and serves at once', async () => {
    const first = nonce();
    await claimNonce(store, 'alice', first, Date.now());
    const leaderName = await leaderOf();
    const leader = servers.find((s) => s.conf.serverName === leaderName)!;
    const marked = (await store.jsm.streams.info(NONCES)).config.metadata?.[HISTORY_MARK];
    await leader.kill();
    await untilLeader();
    await leader.start();
    await waitClusterFormed(servers, 30_000);
    await assert.rejects(claimNonce(store, 'alice', first, Date.now()), isCode('replay'), 'the nonce claimed before the restart is still there');
    await claimNonce(store, 'alice', nonce(), Date.now());
    const si = await store.jsm.streams.info(NONCES);
    assert.equal(si.config.metadata?.[HISTORY_MARK], marked);
    assert.notEqual(si.cluster?.leader, leader.conf.serverName);
  });

  test('a restart of every replica at once: signed requests and the replay are refused, never accepted into the empty history', async () => {
    const first = nonce();
    await claimNonce(store, 'alice', first, Date.now());
    const history = nonceHistoryOf(store);
    const before = await history.confirm();
    await Promise.all(servers.map((s) => s.kill()));
    await Promise.all(servers.map((s) => s.start()));
    await waitClusterFormed(servers, 30_000);
    await untilLeader();
    // The replay that an empty history would take: refused, with the reason.
    await assert.rejects(claimNonce(store, 'alice', first, Date.now()), isCode('unavailable', /nonce history was lost/));
    await assert.rejects(claimNonce(store, 'alice', nonce(), Date.now()), isCode('unavailable', /nonce history was lost/));
    // A claim sent under the check taken before the loss lands in the new
    // history (its sequence starts again) and is refused.
    const seq = await createJson(store.kv.nonces, `alice.${nonce()}`, Date.now());
    assert.equal(typeof seq, 'number');
    assert.throws(() => history.accept(before, seq as number), isCode('unavailable', /changed under this request/));
    // The same history serves once it covers twice the window (a clock moved ahead).
    const later = new NonceHistory(store.jsm, store.kv.nonces, NONCES, 3, { timeoutMs: 5000, now: () => Date.now() + HISTORY_NEEDED_MS });
    const c = await later.confirm();
    assert.ok(c.lastSeq >= 1);
  });

  test('a node that sees the last sequence go back marks the stream lost, and every node refuses', async () => {
    const h = new NonceHistory(store.jsm, store.kv.nonces, NONCES, 3, { timeoutMs: 5000 });
    // This node had a claim acknowledged far past what the leader now holds.
    h.accept({ askedAt: Date.now(), lastSeq: 0 }, 1_000_000);
    await assert.rejects(h.confirm(), isCode('unavailable', /nonce history was lost/));
    const mark = (await store.jsm.streams.info(NONCES)).config.metadata?.[HISTORY_MARK] ?? '';
    assert.match(mark, /^lost@\d+$/);
    const other = new NonceHistory(store.jsm, store.kv.nonces, NONCES, 3, { timeoutMs: 5000 });
    await assert.rejects(other.confirm(), isCode('unavailable', /about 1[23]\d s more/));
  });

  test('scale-r3 moves the nonce bucket between disk and memory: sealed, made again, and marked lost only if it held nonces', async () => {
    for (const held of [true, false]) {
      await store.jsm.streams.delete(NONCES);
      const r1 = await openTestStore(nc, 1);
      assert.equal((await r1.jsm.streams.info(NONCES)).config.storage, 'file');
      if (held) await claimNonce(r1, 'bob', nonce(), Date.now());
      const lines: string[] = [];
      await moveNonces(r1.jsm, 'memory', 3, 30_000, (l) => lines.push(l));
      const si = await r1.jsm.streams.info(NONCES);
      assert.equal(si.config.storage, 'memory');
      assert.equal(si.config.num_replicas, 3);
      assert.equal(si.config.sealed, false);
      const mark = si.config.metadata?.[HISTORY_MARK];
      if (held) assert.match(mark ?? '', /^lost@\d+$/, lines.join('\n'));
      else assert.equal(mark, undefined, lines.join('\n'));
      assert.ok(!scaleSteps(await readReplicas(r1.jsm, [NONCES]), 3, 'memory').length, 'a second run has nothing to do');
      await untilLeader();
      const fresh = await openTestStore(nc, 3, 'memory');
      if (held) await assert.rejects(claimNonce(fresh, 'bob', nonce(), Date.now()), isCode('unavailable', /nonce history was lost/));
      else await claimNonce(fresh, 'bob', nonce(), Date.now());
    }
    // And back to disk: the memory bucket held nonces, so the file one is marked lost.
    await moveNonces(store.jsm, 'file', 3, 30_000, () => undefined);
    const si = await store.jsm.streams.info(NONCES);
    assert.equal(si.config.storage, 'file');
    assert.match(si.config.metadata?.[HISTORY_MARK] ?? '', /^lost@\d+$/);
    await assert.rejects(claimNonce(await openTestStore(nc, 3), 'bob', nonce(), Date.now()), isCode('unavailable', /nonce history was lost/));
    // A move cut short after the drop: the next run makes it again, marked lost.
    await store.jsm.streams.delete(NONCES);
    assert.deepEqual(scaleSteps(await readReplicas(store.jsm, [NONCES]), 3, 'memory'), [`${NONCES} R0 none -> R3 memory`]);
    await moveNonces(store.jsm, 'memory', 3, 30_000, () => undefined);
    const made = await store.jsm.streams.info(NONCES);
    assert.deepEqual([made.config.storage, made.config.num_replicas, made.config.max_age, made.config.allow_direct], ['memory', 3, nanos(NONCE_TTL_MS), false]);
    assert.match(made.config.metadata?.[HISTORY_MARK] ?? '', /^lost@\d+$/);
    await untilLeader();
    await assert.rejects(claimNonce(await openTestStore(nc, 3, 'memory'), 'bob', nonce(), Date.now()), isCode('unavailable', /nonce history was lost/));
  });

  test('a claim on a stream leader that lost its quorum is a 503, never a replay: its unanswered try is still in flight there', async () => {
    await untilLeader();
    const leaderName = await leaderOf();
    const leader = servers.find((s) => s.conf.serverName === leaderName)!;
    const lone = await connectInternal([leader.url], id);
    try {
      const alone = await openTestStore(lone, 3, 'memory');
      for (const s of servers) if (s !== leader) await s.kill();
      // Each claim's first try waits out its bound unanswered; the next meets that try held in
      // flight by the leader (10164, "wrong last sequence", nothing stored), which was a "replay".
      for (let i = 0; i < 3; i++) await assert.rejects(claimKey(alone, `bob.${nonce()}`, Date.now()), isCode('unavailable'), `claim ${i + 1}`);
    } finally {
      await lone.close().catch(() => undefined);
      for (const s of servers) if (s !== leader) await s.start();
      await waitClusterFormed(servers, 30_000);
    }
  });
});
