// The lease scripts run for real (sh, flock, stat) on this machine through the
// local transport, in a temp folder.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LeaseSet } from '../../src/playbook/leases.js';
import { acquireLease, heartbeatLease, LockHeldError, newLease, peekLease, releaseLease, type Lease } from '../../src/playbook/lock.js';
import { LocalTransport } from '../../src/transport/local.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const t = new LocalTransport('h1');

test('a held lease refuses a second run, naming the holder; release frees it', async () => {
  const state = join(dir, 'a');
  const first = newLease('bringup');
  assert.deepEqual(await acquireLease(t, state, first), {});
  assert.equal(JSON.parse(readFileSync(join(state, 'lock.json'), 'utf8')).token, first.token);
  const second = newLease('restart');
  await assert.rejects(acquireLease(t, state, second), (e: unknown) => {
    assert.ok(e instanceof LockHeldError);
    assert.equal(e.holder?.token, first.token);
    assert.match(e.message, /held by .*@.* \(pid \d+, playbook bringup/);
    return true;
  });
  await assert.rejects(peekLease(t, state, newLease('check')), LockHeldError, 'check mode refuses too');
  assert.equal(await heartbeatLease(t, state, second), false, 'not the holder: no heartbeat');
  await releaseLease(t, state, second);
  assert.ok(existsSync(join(state, 'lock.json')), 'a non-holder cannot release');
  await releaseLease(t, state, first);
  assert.ok(!existsSync(join(state, 'lock.json')));
  assert.deepEqual(await peekLease(t, state, newLease('check')), {});
  assert.deepEqual(await acquireLease(t, state, second), {});
  await releaseLease(t, state, second);
});

test('a lease silent for longer than its TTL is taken over, with the old holder reported', async () => {
  const state = join(dir, 'b');
  const old = newLease('bringup', 60);
  await acquireLease(t, state, old);
  const past = new Date(Date.now() - 120_000);
  utimesSync(join(state, 'lock.json'), past, past);
  const peeked = await peekLease(t, state, newLease('check', 60));
  assert.equal(peeked.wouldTakeOver?.lease?.token, old.token, 'check mode reports the takeover a run makes');
  assert.equal(JSON.parse(readFileSync(join(state, 'lock.json'), 'utf8')).token, old.token, 'and takes nothing');
  const fresh = newLease('restart', 60);
  const r = await acquireLease(t, state, fresh);
  assert.equal(r.tookOver?.lease?.token, old.token);
  assert.ok(r.tookOver!.ageS >= 119);
  assert.equal(JSON.parse(readFileSync(join(state, 'lock.json'), 'utf8')).token, fresh.token);
  assert.equal(await heartbeatLease(t, state, old), false, 'the old holder learns it lost the lease');
  assert.equal(await heartbeatLease(t, state, fresh), true);
  await releaseLease(t, state, fresh);
});

test('--lock-wait waits for a release (bounded)', async () => {
  const state = join(dir, 'c');
  const holder = newLease('a');
  await acquireLease(t, state, holder);
  const waiting = acquireLease(t, state, newLease('b'), 10);
  setTimeout(() => void releaseLease(t, state, holder), 300);
  assert.deepEqual(await waiting, {});
  await assert.rejects(acquireLease(t, state, newLease('c'), 1), LockHeldError, 'a bounded wait gives up');
});

test('check mode with --lock-wait waits for a release as a run does (bounded), taking nothing', async () => {
  const state = join(dir, 'c2');
  const holder = newLease('a');
  await acquireLease(t, state, holder);
  await assert.rejects(peekLease(t, state, newLease('b'), 1), LockHeldError, 'a bounded wait gives up');
  const waiting = peekLease(t, state, newLease('b'), 10);
  setTimeout(() => void releaseLease(t, state, holder), 300);
  assert.deepEqual(await waiting, {});
  assert.ok(!existsSync(join(state, 'lock.json')), 'the check took no lease');
});

test('two runs racing for the same hosts: exactly one gets them all, the other holds none', async () => {
  const states = ['d1', 'd2', 'd3'].map((s) => join(dir, s));
  const targets = states.map((s, i) => ({ name: `h${i}`, transport: t, stateDir: s }));
  const a = new LeaseSet(newLease('a'), () => undefined);
  const b = new LeaseSet(newLease('b'), () => undefined);
  const results = await Promise.allSettled([a.acquireAll(targets, 0), b.acquireAll(targets, 0)]);
  const won = results.filter((r) => r.status === 'fulfilled').length;
  assert.ok(won <= 1, 'never both');
  const winner = results[0]!.status === 'fulfilled' ? a : results[1]!.status === 'fulfilled' ? b : null;
  for (const s of states) {
    const present = existsSync(join(s, 'lock.json'));
    if (winner) assert.equal(JSON.parse(readFileSync(join(s, 'lock.json'), 'utf8')).token, winner.lease.token);
    else assert.equal(present, false, 'a loser releases what it took');
  }
  await a.releaseAll();
  await b.releaseAll();
  for (const s of states) assert.equal(existsSync(join(s, 'lock.json')), false);
});

test('a lease left by a killed run of this controller is taken over at once', async () => {
  const { spawnSync } = await import('node:child_process');
  const state = join(dir, 'e');
  const dead = spawnSync('true').pid!; // a pid that has exited
  const mine = newLease('x');
  await acquireLease(t, state, { ...newLease('killed'), pid: dead });
  const r = await acquireLease(t, state, mine);
  assert.equal(r.tookOver?.lease?.pid, dead);
  assert.equal(JSON.parse(readFileSync(join(state, 'lock.json'), 'utf8')).token, mine.token);
  const other = { ...newLease('elsewhere'), owner: 'ci@another-host', pid: dead };
  await releaseLease(t, state, mine);
  await acquireLease(t, state, other);
  await assert.rejects(acquireLease(t, state, newLease('y')), LockHeldError, 'a lease from another controller waits for its TTL');
});

test('check mode judges a lease as a run does: free, refused or taken over in the same cases, writing nothing', async () => {
  const { spawnSync } = await import('node:child_process');
  const dead = spawnSync('true').pid!; // a pid that has exited
  const elsewhere = 'ci@another-host';
  const cases: { name: string; holder?: Lease; ageS?: number; verdict: string }[] = [
    { name: 'no lease', verdict: 'free' },
    { name: 'a fresh lease from another controller', holder: { ...newLease('a'), owner: elsewhere }, verdict: 'refused' },
    { name: 'a stale lease from another controller', holder: { ...newLease('a'), owner: elsewhere }, ageS: 120, verdict: 'taken over' },
    { name: 'a lease left by a killed run of this controller', holder: { ...newLease('killed'), pid: dead }, verdict: 'taken over' },
    { name: 'a lease of a live run of this controller', holder: { ...newLease('live'), pid: process.ppid }, verdict: 'refused' },
  ];
  const verdictOf = (p: Promise<{ tookOver?: unknown; wouldTakeOver?: unknown }>) =>
    p.then(
      (r) => (r.tookOver || r.wouldTakeOver ? 'taken over' : 'free'),
      (e: unknown) => {
        if (e instanceof LockHeldError) return 'refused';
        throw e;
      },
    );
  for (const [i, c] of cases.entries()) {
    const state = join(dir, `h${i}`);
    const file = join(state, 'lock.json');
    if (c.holder) {
      await acquireLease(t, state, c.holder);
      const past = new Date(Date.now() - (c.ageS ?? 0) * 1000);
      utimesSync(file, past, past);
    }
    const before = existsSync(file) ? readFileSync(file, 'utf8') : null;
    const checked = await verdictOf(peekLease(t, state, newLease('check')));
    assert.equal(existsSync(file) ? readFileSync(file, 'utf8') : null, before, `${c.name}: check mode writes nothing`);
    const ran = await verdictOf(acquireLease(t, state, newLease('run')));
    assert.equal(checked, ran, `${c.name}: check mode judges as the run`);
    assert.equal(ran, c.verdict, c.name);
  }
});

test('taking or peeking at the lease also returns a state file in the same round trip', async () => {
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const state = join(dir, 'f');
  assert.deepEqual(await peekLease(t, state, newLease('x'), 0, 'pending.json'), { file: null }, 'absent file');
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'pending.json'), '[{"handler":"restart"}]\n');
  assert.deepEqual(await peekLease(t, state, newLease('x'), 0, 'pending.json'), { file: '[{"handler":"restart"}]\n' });
  const mine = newLease('x');
  assert.deepEqual(await acquireLease(t, state, mine, 0, 'pending.json'), { file: '[{"handler":"restart"}]\n' });
  await releaseLease(t, state, mine);
});

test('releasing the lease appends the audit line in the same round trip, append-only', async () => {
  const state = join(dir, 'g');
  const logs = join(dir, 'g-log');
  for (const n of [1, 2]) {
    const l = newLease(`run${n}`);
    await acquireLease(t, state, l);
    await releaseLease(t, state, l, { dir: logs, line: JSON.stringify({ n }) + '\n' });
    assert.ok(!existsSync(join(state, 'lock.json')));
  }
  assert.equal(readFileSync(join(logs, 'audit.log'), 'utf8'), '{"n":1}\n{"n":2}\n');
});
