import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { judgeCopy, pruneQuarantine, rebuildSafe, ReplicaAudit, SETTLE_MS, SOON_MS, AUDIT_EVERY_MS, STEP_DOWNS_PER_REBUILD, type LeaderView, type OwnCopy } from '../../src/daemon/nats/replica-audit.js';

const state = (messages: number, first = 1, last = 300) => ({ messages, first_seq: first, last_seq: last });
const view = (messages: number, o: Partial<LeaderView> = {}): LeaderView => ({
  leader: 'n1',
  state: state(messages),
  replicas: [{ name: 'n2', current: true }, { name: 'n3', current: true }],
  perKey: true,
  ...o,
});
const own = (messages: number, o: Partial<OwnCopy> = {}): OwnCopy => ({ stream: 'KV_UNIBUS_rooms', account: '$G', raftGroup: 'S-R3F-abc', state: state(messages), leader: 'n1', ...o });

test('judgeCopy: the same sequences and fewer messages here is short; more here is the leader short; the same count is the same', () => {
  assert.deepEqual(judgeCopy('n3', view(300), own(300), view(300)), { kind: 'same' });
  const short = judgeCopy('n3', view(300), own(151), view(300));
  assert.equal(short.kind, 'short');
  assert.match((short as { why: string }).why, /this node's copy holds 151 messages at sequences 1\.\.300, the leader's \(n1\) 300 at 1\.\.300$/);
  // Not one message per key (an object store): judged by its holes, with slack.
  const obj = { perKey: false };
  assert.match((judgeCopy('n3', view(300, obj), own(151), view(300, obj)) as { why: string }).why, /this node's copy holds 151 messages at sequences 1\.\.300 \(149 missing between\), the leader's \(n1\) 300 at 1\.\.300 \(0\)/);
  assert.equal(judgeCopy('n3', view(300, obj), own(295), view(300, obj)).kind, 'same', 'within the slack');
  // As found in a combined run: the same last sequence, one message fewer here, and fewer holes (this copy lost its
  // oldest message, so its first sequence moved past a run of replaced ones). Counted, it is this copy that is short.
  const l = view(0, { leader: 'n3', state: state(31, 13285, 13542) });
  assert.equal(judgeCopy('n1', l, own(0, { state: state(30, 13331, 13542) }), l).kind, 'short');
  assert.equal(judgeCopy('n3', view(151), own(300), view(151)).kind, 'leader-short');
});

test('judgeCopy under writes and expiry: holes the sequences between the reads explain are the same; a copy cut short is still short', () => {
  const at = (messages: number, last: number, first = 1, o: Partial<LeaderView> = {}) => view(0, { state: state(messages, first, last), ...o });
  const mine = (messages: number, last: number, first = 1) => own(0, { state: state(messages, first, last) });
  // 10 sequences applied here past the leader's first answer: each adds a key or replaces one (a hole where its old revision was).
  assert.deepEqual(judgeCopy('n3', at(300, 300), mine(300, 310), at(300, 320)), { kind: 'same' }, 'ten replacements');
  assert.deepEqual(judgeCopy('n3', at(300, 300), mine(310, 310), at(320, 320)), { kind: 'same' }, 'ten new keys');
  assert.equal(judgeCopy('n3', at(300, 300), mine(160, 310), at(320, 320)).kind, 'short', 'half gone');
  // Outside an expiring stream every replica has the same holes at one sequence: five keys lost are short (no slack hides them).
  assert.equal(judgeCopy('n3', at(300, 300), mine(295, 300), at(300, 300)).kind, 'short', 'five keys lost');
  assert.equal(judgeCopy('n3', at(300, 300), mine(299, 300), at(300, 300)).kind, 'short', 'one key lost');
  const exp = { expires: true };
  // An expiring KV bucket (the nonces): five keys lost at the leader's own front are short (a replay once got through a slack of 26).
  assert.equal(judgeCopy('n3', at(300, 300, 1, exp), mine(295, 300), at(300, 300, 1, exp)).kind, 'short', 'an expiring bucket: five keys lost');
  // A copy that expired later holds older sequences, with up to one hole each (replaced keys the leader has expired).
  assert.deepEqual(judgeCopy('n3', at(290, 300, 11, exp), mine(295, 300), at(290, 300, 11, exp)), { kind: 'same' }, 'five holes in the ten sequences before the leader\'s first');
  assert.equal(judgeCopy('n3', at(290, 300, 11, exp), mine(285, 300), at(290, 300, 11, exp)).kind, 'short', 'fifteen holes: more than the ten older sequences explain');
  // An object store replaces many chunks in one write: its holes keep the slack.
  const obj = { expires: true, perKey: false };
  assert.equal(judgeCopy('n3', at(300, 300, 1, obj), mine(295, 300), at(300, 300, 1, obj)).kind, 'same', 'an object store: within the slack');
  // The nonce stream as measured: each replica expires its oldest on its own timer (74 apart at one sequence), no holes.
  assert.deepEqual(judgeCopy('n3', at(7184, 64163, 56980, exp), mine(7110, 64163, 57054), at(7184, 64163, 56980, exp)), { kind: 'same' });
  assert.equal(judgeCopy('n3', at(7184, 64163, 56980, exp), mine(3600, 64163, 56980), at(7184, 64163, 56980, exp)).kind, 'short', 'an expiring stream cut short');
  assert.equal(judgeCopy('n3', at(100, 300), mine(300, 300), at(100, 305)).kind, 'leader-short');
});

test('judgeCopy, an expiring stream: a rebuilt copy that starts well after the leader lost its front; expiry skew, or a copy not rebuilt, is not judged by its front', () => {
  // The numbers of a local chaos run: a cut nonce copy, 8,615 messages from 21,477, the leader's 15,415 from 14,677 (3 holes there left out).
  const leader: LeaderView = { leader: 'n1', state: { messages: 15_415, first_seq: 14_677, last_seq: 30_091 }, replicas: [{ name: 'n2', current: true }, { name: 'n3', current: true }], perKey: true, expires: true };
  const cut: OwnCopy = { stream: 'KV_UNIBUS_nonces', account: '$G', state: { messages: 8615, first_seq: 21_477, last_seq: 30_091 }, leader: 'n1' };
  const v = judgeCopy('n3', leader, cut, leader, { rebuilt: true });
  assert.equal(v.kind, 'short');
  assert.match((v as { why: string }).why, /rebuilt from its blocks at the start, holds 8615 messages at sequences 21477..30091, the leader's \(n1\) 15415 from 14677: 6800 missing at its front/);
  assert.equal(judgeCopy('n3', leader, cut, leader).kind, 'same', 'not rebuilt: a later first sequence is expiry on its own timer');
  // Expiry a little ahead of the leader's (1% of its messages at most) is not a lost front.
  const skewed: OwnCopy = { ...cut, state: { messages: 15_415 - 150, first_seq: 14_677 + 150, last_seq: 30_091 } };
  assert.equal(judgeCopy('n3', leader, skewed, leader, { rebuilt: true }).kind, 'same');
  // Not an expiring stream: the front is not judged this way (history-1 KV copies are judged by their counts).
  assert.equal(judgeCopy('n3', { ...leader, expires: false, perKey: false }, cut, { ...leader, expires: false, perKey: false }, { rebuilt: true }).kind, 'same');
});

test('judgeCopy: a copy behind the leader, a leader changed or missing, or led here, is not judged', () => {
  assert.deepEqual(judgeCopy('n3', view(300), own(151, { state: state(151, 1, 299) }), view(300)), { kind: 'unjudged', why: 'behind the leader' });
  assert.deepEqual(judgeCopy('n3', view(300), own(151, { state: state(151, 1, 301) }), view(300)), { kind: 'unjudged', why: 'ahead of the leader' });
  assert.deepEqual(judgeCopy('n3', view(300), own(151), view(300, { leader: 'n2' })), { kind: 'unjudged', why: 'leader changed' });
  assert.deepEqual(judgeCopy('n3', view(300, { leader: undefined }), own(151), view(300)), { kind: 'unjudged', why: 'no leader answered' });
  assert.deepEqual(judgeCopy('n1', view(300), own(151), view(300)), { kind: 'unjudged', why: 'this node leads it' });
  assert.deepEqual(judgeCopy('n3', view(300), undefined, view(300)), { kind: 'unjudged', why: "a replica here, not listed by this node's monitor yet" });
  const elsewhere = view(300, { replicas: [{ name: 'n2', current: true }, { name: 'n4', current: true }] });
  assert.deepEqual(judgeCopy('n3', elsewhere, undefined, elsewhere), { kind: 'unjudged', why: 'no copy here' });
});

test('rebuildSafe: only with another leader and every other replica current', () => {
  assert.equal(rebuildSafe('n3', view(300)), null);
  assert.equal(rebuildSafe('n3', view(300, { replicas: [{ name: 'n2', current: false }, { name: 'n3', current: true }] })), 'replica n2 not current');
  assert.equal(rebuildSafe('n3', view(300, { replicas: [{ name: 'n2', current: true, offline: true }, { name: 'n3' }] })), 'replica n2 not current');
  assert.equal(rebuildSafe('n1', view(300)), 'no other leader');
});

/** A store folder as nats-server lays it out, with one stream and its raft group. */
async function storeWith(dir: string): Promise<void> {
  await mkdir(join(dir, 'jetstream', '$G', 'streams', 'KV_UNIBUS_rooms', 'msgs'), { recursive: true });
  await writeFile(join(dir, 'jetstream', '$G', 'streams', 'KV_UNIBUS_rooms', 'msgs', '1.blk'), 'damaged');
  await mkdir(join(dir, 'jetstream', '$SYS', '_js_', 'S-R3F-abc'), { recursive: true });
  await mkdir(join(dir, 'jetstream', '$G', 'streams', 'KV_UNIBUS_users'), { recursive: true });
}

function fakeAudit(dir: string, o: { own: () => OwnCopy | undefined; leader: () => LeaderView; catchUpMs?: number }) {
  const calls = { restarts: [] as string[], stepDowns: [] as string[], logs: [] as string[], downRan: 0 };
  let t = 1_000_000;
  const audit = new ReplicaAudit({
    me: 'n3',
    streams: () => ['KV_UNIBUS_rooms'],
    readOwn: async () => {
      const c = o.own();
      return new Map(c ? [['KV_UNIBUS_rooms', c]] : []);
    },
    readLeader: async () => o.leader(),
    restartWith: async (reason, whileDown) => {
      calls.restarts.push(reason);
      await whileDown();
      calls.downRan++;
    },
    stepDown: async (s) => void calls.stepDowns.push(s),
    storeDir: dir,
    log: (l) => calls.logs.push(l),
    now: () => t,
    catchUpMs: o.catchUpMs ?? 0,
  });
  return { audit, calls, advance: (ms: number) => (t += ms) };
}

test('a copy short in two rounds in a row is moved aside whole (stream and raft state) and rebuilt; not again within 10 min', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await storeWith(dir);
  const f = fakeAudit(dir, { own: () => own(151), leader: () => view(300) });
  assert.equal(f.audit.rounds, 0);
  assert.equal(f.audit.settled, false);
  const r1 = await f.audit.round();
  assert.equal(r1.verdicts.get('KV_UNIBUS_rooms')?.kind, 'short');
  assert.deepEqual(r1.rebuilt, [], 'one round is not enough');
  assert.match(f.audit.reason ?? '', /stream KV_UNIBUS_rooms: this node's copy holds 151 messages/);
  assert.equal(f.audit.nextInMs, SOON_MS, 'a suspect copy is looked at again soon');
  assert.equal(f.audit.settled, true, 'judged (short): settled, and /healthz says why through reason');
  const r2 = await f.audit.round();
  assert.deepEqual(r2.rebuilt, ['KV_UNIBUS_rooms']);
  assert.equal(f.calls.downRan, 1);
  assert.equal(f.audit.settled, false, 'not ready again until the rebuilt copy is judged');
  assert.match(f.calls.restarts[0]!, /copy of KV_UNIBUS_rooms is short/);
  assert.ok(!existsSync(join(dir, 'jetstream', '$G', 'streams', 'KV_UNIBUS_rooms')), 'the damaged copy left the store');
  assert.ok(!existsSync(join(dir, 'jetstream', '$SYS', '_js_', 'S-R3F-abc')), 'its raft state too');
  assert.ok(existsSync(join(dir, 'jetstream', '$G', 'streams', 'KV_UNIBUS_users')), 'other streams stay');
  const q = await readdir(join(dir, 'quarantine'));
  assert.equal(q.length, 1);
  assert.match(q[0]!, /-KV_UNIBUS_rooms$/);
  assert.deepEqual((await readdir(join(dir, 'quarantine', q[0]!))).sort(), ['raft', 'stream']);
  assert.ok(existsSync(join(dir, 'quarantine', q[0]!, 'stream', 'msgs', '1.blk')), 'nothing deleted');
  // Still short at once (the same fake): no second rebuild within 10 min, and it says so.
  await storeWith(dir);
  await f.audit.round();
  await f.audit.round();
  assert.equal(f.calls.downRan, 1);
  assert.ok(f.calls.logs.some((l) => /not rebuilt: rebuilt less than 10 min ago/.test(l)), f.calls.logs.join('\n'));
  assert.equal(f.audit.rounds, 4);
});

test('a short copy is not rebuilt while the other replica is not current (the stream would lose its majority)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await storeWith(dir);
  const f = fakeAudit(dir, { own: () => own(151), leader: () => view(300, { replicas: [{ name: 'n2', current: false }, { name: 'n3', current: true }] }) });
  await f.audit.round();
  await f.audit.round();
  assert.equal(f.calls.downRan, 0);
  assert.ok(f.calls.logs.some((l) => /not rebuilt: replica n2 not current/.test(l)), f.calls.logs.join('\n'));
  assert.ok(existsSync(join(dir, 'jetstream', '$G', 'streams', 'KV_UNIBUS_rooms')));
  assert.match(f.audit.reason ?? '', /KV_UNIBUS_rooms/, '/healthz keeps saying why');
});

test('a matching copy clears the suspicion; a leader found short twice is asked to step down once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let n = 151;
  let leader = 300;
  const f = fakeAudit(dir, { own: () => own(n), leader: () => view(leader) });
  await f.audit.round();
  n = 300;
  await f.audit.round();
  assert.equal(f.audit.reason, null);
  assert.equal(f.audit.nextInMs, AUDIT_EVERY_MS);
  await f.audit.round();
  assert.equal(f.calls.downRan, 0, 'one short look, then the same: no rebuild');
  leader = 151;
  await f.audit.round();
  await f.audit.round();
  await f.audit.round();
  assert.deepEqual(f.calls.stepDowns, ['KV_UNIBUS_rooms']);
  assert.equal(f.audit.reason, null, "the leader's copy is not this node's to vouch for");
});

test('a copy rebuilt from its blocks steps down (bounded) when elected before it is judged, and is rebuilt on its first short verdict', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await storeWith(dir);
  let n = 151;
  const f = fakeAudit(dir, { own: () => own(n), leader: () => view(300) });
  await f.audit.copyLed('KV_UNIBUS_rooms');
  assert.deepEqual(f.calls.stepDowns, [], 'a copy not rebuilt keeps the lead it won');
  f.audit.copyRebuilt('KV_UNIBUS_rooms');
  f.audit.copyRebuilt('KV_UNIBUS_other');
  assert.deepEqual(f.audit.rebuiltUnjudged, ['KV_UNIBUS_rooms'], 'only the streams audited');
  await f.audit.copyLed('KV_UNIBUS_other');
  for (let i = 0; i < STEP_DOWNS_PER_REBUILD + 2; i++) await f.audit.copyLed('KV_UNIBUS_rooms');
  assert.deepEqual(f.calls.stepDowns, Array(STEP_DOWNS_PER_REBUILD).fill('KV_UNIBUS_rooms'), 'bounded per rebuild: a cluster whose every copy was rebuilt keeps a leader');
  assert.ok(f.calls.logs.some((l) => /elected its leader while its copy, rebuilt from its blocks at the start, is not judged yet; stepping down/.test(l)), f.calls.logs.join('\n'));
  assert.equal(f.audit.nextInMs, SOON_MS, 'a rebuilt copy is looked at soon');
  const r = await f.audit.round();
  assert.deepEqual(r.rebuilt, ['KV_UNIBUS_rooms'], 'one short verdict: the rebuild was its first strike');
  assert.deepEqual(f.audit.rebuiltUnjudged, []);
  // A rebuilt copy judged the same is no longer suspect: elected, it keeps the lead.
  n = 300;
  f.audit.copyRebuilt('KV_UNIBUS_rooms');
  assert.equal((await f.audit.round()).verdicts.get('KV_UNIBUS_rooms')?.kind, 'same');
  assert.deepEqual(f.audit.rebuiltUnjudged, []);
  await f.audit.copyLed('KV_UNIBUS_rooms');
  assert.equal(f.calls.stepDowns.length, STEP_DOWNS_PER_REBUILD);
  assert.equal(f.audit.nextInMs, AUDIT_EVERY_MS);
});

test('a copy that stays behind its leader for SETTLE_MS is judged short and rebuilt, never called ready without', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await storeWith(dir);
  const f = fakeAudit(dir, { own: () => own(250, { state: state(250, 1, 250) }), leader: () => view(300) });
  await f.audit.round();
  assert.equal(f.audit.settled, false);
  assert.equal(f.audit.nextInMs, SOON_MS);
  f.advance(SETTLE_MS);
  const r = await f.audit.round();
  assert.equal(r.verdicts.get('KV_UNIBUS_rooms')?.kind, 'short');
  assert.match(f.audit.reason ?? '', /this node's copy stayed behind the leader's \(n1\) for 30 s \(at sequence 250, the leader's 300\)/);
  assert.ok(!f.calls.logs.some((l) => /ready without/.test(l)), f.calls.logs.join('\n'));
  f.advance(SOON_MS);
  assert.deepEqual((await f.audit.round()).rebuilt, ['KV_UNIBUS_rooms']);
});

test('a copy that falls behind after the first round is not let go with the others at SETTLE_MS: it is judged short once behind that long itself', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let leaderUp = false;
  const f = fakeAudit(dir, { own: () => own(250, { state: state(250, 1, 250) }), leader: () => (leaderUp ? view(300) : view(300, { leader: undefined })) });
  await f.audit.round();
  f.advance(SETTLE_MS / 2);
  leaderUp = true;
  await f.audit.round();
  assert.equal(f.audit.settled, false, 'behind now');
  f.advance(SETTLE_MS / 2);
  await f.audit.round();
  assert.equal(f.audit.settled, false, 'SETTLE_MS since the first round, but behind for half of it only');
  assert.ok(!f.calls.logs.some((l) => /ready without/.test(l)), f.calls.logs.join('\n'));
  f.advance(SETTLE_MS / 2);
  const r = await f.audit.round();
  assert.equal(r.verdicts.get('KV_UNIBUS_rooms')?.kind, 'short');
  assert.equal(f.audit.settled, true, 'judged (short): /healthz says why through reason');
});

test('a copy never judged (no leader answers) holds readiness for SETTLE_MS, then lets it go, saying so', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const f = fakeAudit(dir, { own: () => own(300), leader: () => view(300, { leader: undefined }) });
  await f.audit.round();
  assert.equal(f.audit.settled, false);
  assert.equal(f.audit.nextInMs, SOON_MS);
  f.advance(SETTLE_MS);
  await f.audit.round();
  assert.equal(f.audit.settled, true);
  assert.ok(f.calls.logs.some((l) => /KV_UNIBUS_rooms not judged within 30 s \(no leader answered\); ready without/.test(l)), f.calls.logs.join('\n'));
});

test('a copy applying behind its leader is read again until it passed the leader; a short one is found, a whole one judged the same', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // Under steady writes: the leader's last sequence grows by 10 between answers; this copy applies 25 behind it, and reaches
  // the leader's earlier answer only after a few reads of its own.
  for (const [lost, want] of [[0, 'same'], [100, 'short']] as const) {
    let leaderLast = 1000;
    let reads = 0;
    const f = fakeAudit(dir, {
      leader: () => ((leaderLast += 10), view(0, { state: state(leaderLast - 400, 1, leaderLast) })),
      own: () => {
        reads++;
        const last = Math.min(leaderLast - 25 + reads * 10, leaderLast);
        return own(0, { state: state(last - 400 - lost, 1, last) });
      },
      catchUpMs: 500,
    });
    const r = await f.audit.round();
    assert.equal(r.verdicts.get('KV_UNIBUS_rooms')?.kind, want, JSON.stringify(r.verdicts.get('KV_UNIBUS_rooms')));
    assert.ok(reads > 1, 'read again while behind');
    assert.equal(f.audit.settled, true);
  }
  // Without reading again (catchUpMs 0) the same copy is never judged.
  let leaderLast = 1000;
  const g = fakeAudit(dir, { leader: () => ((leaderLast += 10), view(0, { state: state(leaderLast - 400, 1, leaderLast) })), own: () => own(0, { state: state(leaderLast - 425, 1, leaderLast - 25) }) });
  assert.deepEqual((await g.audit.round()).verdicts.get('KV_UNIBUS_rooms'), { kind: 'unjudged', why: 'behind the leader' });
});

test("a copy its leader names here but this node's monitor does not list yet holds readiness until it is listed and judged", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let listed = false;
  const f = fakeAudit(dir, { own: () => (listed ? own(300) : undefined), leader: () => view(300) });
  const r1 = await f.audit.round();
  assert.deepEqual(r1.verdicts.get('KV_UNIBUS_rooms'), { kind: 'unjudged', why: "a replica here, not listed by this node's monitor yet" });
  assert.equal(f.audit.settled, false, 'not ready on a copy nobody looked at');
  assert.equal(f.audit.nextInMs, SOON_MS);
  listed = true;
  await f.audit.round();
  assert.equal(f.audit.settled, true);
  // A stream with no replica on this node is none of its business: settled at once, no verdict.
  const g = fakeAudit(dir, { own: () => undefined, leader: () => view(300, { replicas: [{ name: 'n2', current: true }, { name: 'n4', current: true }] }) });
  const r2 = await g.audit.round();
  assert.equal(r2.verdicts.size, 0);
  assert.equal(g.audit.settled, true);
});

test('pruneQuarantine keeps the newest copies', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const n of ['2026-01-01-A', '2026-01-02-A', '2026-01-03-B']) await mkdir(join(dir, 'quarantine', n), { recursive: true });
  await pruneQuarantine(dir, 2);
  assert.deepEqual((await readdir(join(dir, 'quarantine'))).sort(), ['2026-01-02-A', '2026-01-03-B']);
});
