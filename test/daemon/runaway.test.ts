// The supervisor's runaway watch (src/daemon/nats/runaway.ts): what the
// child's log makes a suspect, when silence or memory means a runaway, how a
// copy is found on disk while nats-server is down, and, against three real
// nats-servers, a node whose bit-flipped copy leads being killed, that copy
// moved aside, and the node rejoining with the whole stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { listCopiesOnDisk, planMoveAside, readCopyOnDisk, readProc, resolveRefs, RunawayWatch, StreamLog } from '../../src/daemon/nats/runaway.js';
import { fetchJsz } from '../../src/daemon/nats/monitor.js';
import { flipOffsets } from '../../src/modules/cluster/corrupt.js';
import { superviseThree } from '../harness/supervised.js';
import { sleep } from '../../src/util/time.js';

test('StreamLog: a restore begun and not ended and a read that took seconds are the suspects; failing those, the streams led (the monitor\'s word replacing the log\'s)', () => {
  const log = new StreamLog();
  log.see("[1] 2026/12/07 00:58:22.076612 [INF]   Starting restore for stream '$G > A'");
  log.see("[1] 2026/12/07 00:59:48.984573 [INF]   Restored 2,000 messages for stream '$G > A' in 0s");
  log.see("[1] 2026/12/07 00:59:54.784876 [INF] JetStream cluster new stream leader for '$G > C'");
  assert.deepEqual(log.restoring, []);
  assert.deepEqual(log.suspects().map((r) => r.stream), ['C']);
  log.setLed([{ account: '$G', stream: 'D' }]);
  assert.deepEqual(log.suspects().map((r) => r.stream), ['D'], 'C was handed on, as the monitor says');
  log.see("[1] [INF] JetStream cluster new stream leader for '$G > C'");
  log.see("[1] [INF] JetStream cluster new consumer leader for '$G > E > c'");
  assert.deepEqual(log.suspects().map((r) => r.stream), ['D', 'C'], 'a consumer leader is no stream lead');

  // A restore that did not end, or a read of stored messages that took seconds, comes first: the leads drop out.
  log.see("[1] 2026/12/07 00:58:22.076612 [INF]   Starting restore for stream 'ACC > B'");
  assert.deepEqual(log.restoring, [{ account: 'ACC', stream: 'B' }]);
  log.see('[7347] 2026/12/07 01:47:43.959943 [WRN] Internal subscription on "$JS.API.STREAM.MSG.GET.KV_UNIBUS_members" took too long: 24.750035107s');
  log.see('[7347] [WRN] Internal subscription on "$JS.API.DIRECT.GET.KV_UNIBUS_users.$KV.UNIBUS_users.x" took too long: 3.1s');
  log.see('[7347] [WRN] Internal subscription on "$JS.API.STREAM.INFO.KV_UNIBUS_rooms" took too long: 3.1s');
  assert.deepEqual(log.suspects(), [{ account: 'ACC', stream: 'B' }, { account: '', stream: 'KV_UNIBUS_members' }, { account: '', stream: 'KV_UNIBUS_users' }]);
  log.reset();
  assert.deepEqual(log.suspects(), []);
});

test('StreamLog: a copy that stopped applying (a critical write error) is named once, with its account; a reset forgets it', () => {
  const log = new StreamLog();
  log.see("[1659] 2026/12/07 15:04:12.220362 [ERR] JetStream failed to store a msg on stream '$G > KV_UNIBUS_members': malformed or corrupt message in 3.blk: invalid checksum");
  assert.deepEqual(log.takeStuck(), [], 'a failed store alone is not the stop');
  log.see("[1659] 2026/12/07 15:04:12.220366 [ERR] JetStream stream '$G > KV_UNIBUS_members' critical write error: malformed or corrupt message in 3.blk: invalid checksum");
  log.see("[1659] 2026/12/07 15:04:12.220366 [ERR] JetStream stream '$G > KV_UNIBUS_members' critical write error: malformed or corrupt message in 3.blk: invalid checksum");
  assert.deepEqual(log.takeStuck(), [{ account: '$G', stream: 'KV_UNIBUS_members' }]);
  assert.deepEqual(log.takeStuck(), [], 'named once');
  log.see("[1] [ERR] JetStream stream 'ACC > S' critical write error: x");
  log.reset();
  assert.deepEqual(log.takeStuck(), []);
});

test('StreamLog: a copy with bytes nats-server found corrupt is named once with the words of its line (account unknown); a raft group\'s store is not a copy; a reset forgets it', () => {
  const log = new StreamLog();
  // Lines from local chaos runs (2.15.1).
  log.see('[5996] 2026/12/07 17:51:04.516928 [WRN] Filestore [KV_UNIBUS_members] indexCacheBuf corrupt record state in /s/n3/jetstream/jetstream/$G/streams/KV_UNIBUS_members/msgs/1.blk: dlen 354 slen 65319 index 26211 rl 376 lbuf 389729');
  log.see('[12186] 2026/12/07 09:06:34.442433 [WRN] Filestore [KV_UNIBUS_members] Ignoring non-write error: malformed or corrupt message in 4.blk: invalid checksum');
  log.see('[16167] 2026/12/07 08:42:16.581950 [WRN] Filestore [KV_UNIBUS_rooms_by_member] Ignoring non-write error: malformed or corrupt message in 19.blk: invalid checksum');
  log.see('[1] [WRN] Filestore [S-R3F-abc] Ignoring non-write error: malformed or corrupt message in 1.blk: invalid checksum');
  log.see("[24377] 2026/12/07 19:13:30.310336 [WRN] Error loading message for catchup '$G > KV_UNIBUS_users': malformed or corrupt message in 1.blk: invalid checksum");
  log.see('[1] [WRN] Filestore [KV_UNIBUS_users] Stream state outdated, last block has additional entries, will rebuild');
  const got = log.takeCorrupt();
  assert.deepEqual(got.map((c) => c.ref), [{ account: '', stream: 'KV_UNIBUS_members' }, { account: '', stream: 'KV_UNIBUS_rooms_by_member' }, { account: '', stream: 'KV_UNIBUS_users' }]);
  assert.equal(got[2]!.said, "Error loading message for catchup '$G > KV_UNIBUS_users': malformed or corrupt message in 1.blk: invalid checksum", 'a leader that cannot send a follower its bytes');
  assert.match(got[0]!.said, /^indexCacheBuf corrupt record state in /);
  assert.ok(got[0]!.said.length <= 160);
  assert.equal(got[1]!.said, 'Ignoring non-write error: malformed or corrupt message in 19.blk: invalid checksum');
  assert.deepEqual(log.takeCorrupt(), [], 'named once');
  log.see('[1] [WRN] Filestore [KV_UNIBUS_rooms] indexCacheBuf corrupt record state: dlen 1');
  log.reset();
  assert.deepEqual(log.takeCorrupt(), []);
});

test('StreamLog: a copy rebuilt from its blocks is news once per child (its stream, never a raft group\'s store); each election won is news', () => {
  const log = new StreamLog();
  // Lines from a local chaos run (2.15.1): a block cut short while stopped, then a kill.
  log.see('[8133] 2026/12/07 16:59:56.299828 [WRN] Filestore [KV_UNIBUS_rooms_by_member] Stream state outdated, last block has additional entries, will rebuild');
  log.see('[8133] 2026/12/07 16:59:56.299849 [WRN] Filestore [KV_UNIBUS_rooms_by_member] Recovering stream state from index errored: prior state file');
  log.see('[8133] 2026/12/07 16:59:56.299849 [WRN] Filestore [_meta_] Stream state outdated, last block has additional entries, will rebuild');
  log.see('[8133] 2026/12/07 16:59:56.299849 [WRN] Filestore [S-R3F-gMvAbhYf] Recovering stream state from index errored: prior state file');
  log.see('[20437] 2026/12/07 04:22:30.959798 [WRN] Filestore [KV_UNIBUS_users] Stream state too short (0 bytes)');
  log.see("[8133] 2026/12/07 16:59:57.100000 [INF] JetStream cluster new stream leader for '$G > KV_UNIBUS_rooms_by_member'");
  assert.deepEqual(log.takeNews(), [
    { kind: 'rebuilt', stream: 'KV_UNIBUS_rooms_by_member' },
    { kind: 'rebuilt', stream: 'KV_UNIBUS_users' },
    { kind: 'led', stream: 'KV_UNIBUS_rooms_by_member' },
  ]);
  assert.deepEqual(log.takeNews(), [], 'taken once');
  assert.deepEqual(log.rebuilt, ['KV_UNIBUS_rooms_by_member', 'KV_UNIBUS_users']);
  assert.deepEqual(log.led, [{ account: '$G', stream: 'KV_UNIBUS_rooms_by_member' }]);
  log.see("[8133] 2026/12/07 16:59:58.100000 [INF] JetStream cluster new stream leader for '$G > KV_UNIBUS_rooms_by_member'");
  assert.deepEqual(log.takeNews(), [{ kind: 'led', stream: 'KV_UNIBUS_rooms_by_member' }], 'each election');
  log.reset();
  assert.deepEqual(log.rebuilt, []);
  log.see('[9] [WRN] Filestore [KV_UNIBUS_users] Stream state outdated, last block has additional entries, will rebuild');
  assert.deepEqual(log.takeNews(), [{ kind: 'rebuilt', stream: 'KV_UNIBUS_users' }], 'a new child rebuilds afresh');
});

test('RunawayWatch: silence while running past the bound, or memory past its bound, is a runaway; a stopped process or a gone one is not', () => {
  const running = { state: 'S', rssBytes: 100 * 2 ** 20 };
  const w = new RunawayWatch(30_000, 2 ** 30, 0);
  assert.equal(w.observe({ answered: true, proc: running }, 1000), null);
  assert.equal(w.observe({ answered: false, proc: running }, 20_000), null);
  const v = w.observe({ answered: false, proc: running }, 31_001);
  assert.ok(v, 'silent 30 s while running');
  assert.match(v.why, /monitor has not answered for 30 s while it runs \(state S, 100 MiB resident\)/);
  assert.equal(v.silentSinceMs, 1000);

  const paused = new RunawayWatch(30_000, 2 ** 30, 0);
  assert.equal(paused.observe({ answered: false, proc: { ...running, state: 'T' } }, 40_000), null, 'a SIGSTOP is a pause, not a runaway');
  assert.equal(paused.observe({ answered: false, proc: running }, 60_000), null, 'the silence counts from the pause\'s end');
  assert.ok(paused.observe({ answered: false, proc: running }, 70_001));

  const big = new RunawayWatch(30_000, 2 ** 30, 0);
  const m = big.observe({ answered: false, proc: { state: 'R', rssBytes: 3 * 2 ** 30 } }, 2000);
  assert.match(m?.why ?? '', /memory reached 3072 MiB \(bound 1024 MiB\)/);
  assert.equal(big.observe({ answered: true, proc: { state: 'R', rssBytes: 3 * 2 ** 30 } }, 3000), null, 'a large node that answers is not judged on memory');
  assert.equal(big.observe({ answered: false, proc: null }, 90_000), null, 'gone: the crash path restarts it');
});

test('planMoveAside: the suspects, or every copy the second time within the bound; resolveRefs finds the account of a stream named alone', () => {
  const members = { account: '', stream: 'KV_UNIBUS_members' };
  assert.deepEqual(planMoveAside([members], -Infinity, 1_000_000, 600_000), { all: false, what: 'moving aside its copy of KV_UNIBUS_members (restored, slow to read, or led when it ran away)' });
  assert.equal(planMoveAside([], -Infinity, 1_000_000, 600_000).what, 'no copy to suspect (it restored and led none)');
  assert.equal(planMoveAside([members], 500_000, 1_000_000, 600_000).all, true, 'a second runaway 500 s after the first');
  assert.equal(planMoveAside([], 300_000, 1_000_000, 600_000).all, false, 'the first was 700 s ago');
  const onDisk = [{ account: '$G', stream: 'KV_UNIBUS_members' }, { account: '$G', stream: 'KV_UNIBUS_users' }];
  assert.deepEqual(resolveRefs([members, { account: '$G', stream: 'X' }, { account: '', stream: 'GONE' }], onDisk), [onDisk[0], { account: '$G', stream: 'X' }]);
});

test('readProc reads a live process and says null for a gone one', async () => {
  const me = await readProc(process.pid);
  assert.ok(me && /^[RS]$/.test(me.state) && me.rssBytes > 10 * 2 ** 20, JSON.stringify(me));
  assert.equal(await readProc(2 ** 22 + 12345), null);
});

test("readCopyOnDisk: a copy's replica count and its raft group, from the store's meta files; null when absent; listCopiesOnDisk lists them all", async () => {
  const store = await mkdtemp(join(tmpdir(), 'unibus-runaway-'));
  try {
    const js = join(store, 'jetstream');
    await mkdir(join(js, '$G', 'streams', 'REPRO'), { recursive: true });
    await writeFile(join(js, '$G', 'streams', 'REPRO', 'meta.inf'), JSON.stringify({ name: 'REPRO', num_replicas: 3 }));
    for (const [g, stream] of [['S-R3F-other', 'OTHER'], ['S-R3F-aF6Q3xxI', 'REPRO']] as const) {
      await mkdir(join(js, '$SYS', '_js_', g), { recursive: true });
      await writeFile(join(js, '$SYS', '_js_', g, 'meta.inf'), JSON.stringify({ name: g, metadata: { account: '$G', stream, type: 'stream' } }));
    }
    await mkdir(join(js, '$SYS', '_js_', '_meta_'), { recursive: true });
    assert.deepEqual(await readCopyOnDisk(store, { account: '$G', stream: 'REPRO' }), { account: '$G', stream: 'REPRO', replicas: 3, raftGroup: 'S-R3F-aF6Q3xxI' });
    assert.equal(await readCopyOnDisk(store, { account: '$G', stream: 'NONE' }), null);
    await mkdir(join(js, 'ACC', 'streams', 'X'), { recursive: true });
    assert.deepEqual(await listCopiesOnDisk(store), [{ account: '$G', stream: 'REPRO' }, { account: 'ACC', stream: 'X' }], 'the system account\'s raft groups are no copies');
  } finally {
    await rm(store, { recursive: true, force: true });
  }
});

test('a node whose bit-flipped copy leads runs away: its supervisor kills it, moves that copy aside, and it rejoins with the whole stream', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-runaway-'));
  // The repro's runaway grows by GBs within seconds: a low bound ends it early here.
  const { urls, lines, supervisor } = await superviseThree(dir, 'runaway', { maxRssBytes: 1024 * 2 ** 20, silentMs: 10_000 });
  const sups = [0, 1, 2].map(supervisor);
  const nc = await Promise.all(sups.map((s) => s.start())).then(() =>
    connect({ servers: urls, timeout: 5000, reconnect: true, maxReconnectAttempts: -1 }),
  );
  try {
    // The meta group elects its leader after the three are up: asked again (30 s at most).
    let jsm = await jetstreamManager(nc, { timeout: 5000 }).catch(() => null);
    for (let t = 0; !jsm && t < 60; t++) jsm = await sleep(500).then(() => jetstreamManager(nc, { timeout: 5000 }).catch(() => null));
    assert.ok(jsm, 'JetStream never answered');
    // What bench/repro-corrupt-follower.ts writes, so the same bytes are inverted.
    for (let t = 0; ; t++) {
      const e = await jsm.streams.add({ name: 'REPRO', subjects: ['repro.>'], num_replicas: 3, allow_direct: false }).then(() => null, (x: Error) => x);
      if (!e) break;
      if (t > 60) throw e;
      await sleep(500);
    }
    const js = jetstream(nc, { timeout: 5000 });
    for (let i = 0; i < 2000; i++) await js.publish(`repro.k.${i % 100}`, `v${i}`);
    let info = await jsm.streams.info('REPRO');
    const f = [0, 1, 2].find((i) => `n${i}` !== info.cluster!.leader && info.cluster!.replicas!.some((r) => r.name === `n${i}` && r.current))!;
    assert.notEqual(f, undefined, JSON.stringify(info.cluster));
    await sups[f]!.stop(2000, 10_000);
    const msgs = join(dir, `n${f}`, 'jetstream', '$G', 'streams', 'REPRO', 'msgs');
    const blk = join(msgs, (await readdir(msgs)).filter((x) => x.endsWith('.blk')).sort((a, b) => parseInt(a) - parseInt(b)).at(-1)!);
    const b = await readFile(blk);
    for (const o of flipOffsets(b.length, 7)) b[o] = b[o]! ^ 0xff;
    await writeFile(blk, b);
    sups[f] = supervisor(f);
    await sups[f]!.start();

    // Made the stream's leader and written to, the damaged copy runs away (nats-server 2.10.27).
    let leads = false;
    for (let k = 0; k < 20 && !leads; k++) {
      info = await jsm.streams.info('REPRO');
      leads = info.cluster?.leader === `n${f}`;
      if (!leads) {
        await nc.request('$JS.API.STREAM.LEADER.STEPDOWN.REPRO', undefined, { timeout: 5000 }).catch(() => null);
        await sleep(2000);
      }
    }
    assert.ok(leads, `n${f} never led REPRO`);
    let acked = 2000;
    for (let i = 0; i < 200; i++) if (await js.publish(`repro.n.${i}`, `w${i}`).then(() => true, () => false)) acked++;

    const seen = (re: RegExp) => lines[f]!.some((l) => re.test(l));
    for (const until = Date.now() + 60_000; Date.now() < until && !seen(/copy moved aside/); ) await sleep(250);
    const log = lines[f]!.join('\n');
    t.diagnostic(lines[f]!.filter((l) => /ran away|moved aside/.test(l)).join(' | '));
    // 2.10.27 runs away once the copy leads and is written; 2.15.1 already in the copy's restore.
    assert.match(log, /nats-server \(pid \d+\) ran away: (its memory reached \d+ MiB|its monitor has not answered).*moving aside its copy of REPRO \(restored, slow to read, or led when it ran away\)|nats-server did not start: nats-server ran away while starting: \d+ MiB resident \(bound 1024 MiB\), restoring REPRO/, log);
    assert.match(log, /REPRO: its (nats-server ran away on it|restore did not end); copy moved aside to .*quarantine.*REPRO, rejoining empty/, log);

    // Back, empty, then sent the whole stream: its own copy holds the leader's.
    let own = -1;
    for (const until = Date.now() + 90_000; Date.now() < until; await sleep(500)) {
      info = await jsm.streams.info('REPRO').catch(() => info);
      const j = await fetchJsz(sups[f]!.monitorPort, 2000).catch(() => null);
      own = j?.account_details?.flatMap((a) => a.stream_detail ?? []).find((d) => d.name === 'REPRO')?.state?.messages ?? -1;
      if (own === info.state.messages && info.state.messages >= acked) break;
    }
    assert.ok(info.state.messages >= acked, `acknowledged ${acked}, the stream holds ${info.state.messages}`);
    assert.equal(own, info.state.messages, `n${f}'s copy against its leader's`);
  } finally {
    await nc.close().catch(() => undefined);
    await Promise.all(sups.map((s) => s.stop(1000, 5000)));
    await rm(dir, { recursive: true, force: true });
  }
});
