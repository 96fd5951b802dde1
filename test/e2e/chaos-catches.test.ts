// The chaos checker catches each class of broken promise from a real
// membershipd (with its real nats-server) made to misbehave on purpose
// (MEMBERSHIPD_TEST_MISBEHAVE, daemon/misbehave.ts): the chaos workload runs
// against it for a while, every set is read back, and the checker must
// report lost writes (acknowledged, never written), stale reads (a list
// served from an old copy), replays accepted (nonces not claimed) and a
// revoked user served. The same workload against a daemon that keeps its
// promises reports none of them.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkHistory, formatCheck, type CheckResult } from '../../src/controller/chaos/checker.js';
import { finalReads, readRunUsers } from '../../src/controller/chaos/final-reads.js';
import { readHistory } from '../../src/controller/chaos/history.js';
import { runWorkload, type WorkloadConfig } from '../../src/controller/chaos/workload.js';
import { rawPublicKey } from '../../src/protocol/ed25519.js';
import { freePort } from '../harness/ports.js';
import { killAllDaemons, spawnDaemon, stopDaemon, waitHealth } from '../harness/membershipd.js';
import { run as addUserCommand } from '../../src/daemon/commands/user.js';
import { randomBytes } from 'node:crypto';

const HOST = '127.0.0.51';
const dir = mkdtempSync(join(tmpdir(), 'unibus-catches-'));
after(async () => {
  await killAllDaemons();
  rmSync(dir, { recursive: true, force: true });
});

/** A one-node membershipd with `misbehave`, the workload against it for `seconds`, then the final reads and the check. */
async function runAgainst(name: string, misbehave: string, seconds: number): Promise<CheckResult> {
  const http = await freePort(HOST);
  const nats = await freePort(HOST);
  const stateDir = join(dir, name);
  const d = spawnDaemon(['--bind', HOST, '--http-port', String(http), '--nats-port', String(nats), '--server-name', name], {
    stateDir,
    http: `http://${HOST}:${http}`,
    env: misbehave ? { MEMBERSHIPD_TEST_MISBEHAVE: misbehave } : {},
  });
  try {
    await waitHealth(d, 200, 60_000);
    const seed = randomBytes(32);
    const keyFile = join(dir, `${name}.key`);
    writeFileSync(keyFile, seed.toString('hex') + '\n', { mode: 0o600 });
    // The first admin, as an operator adds one: through the node's internal identity.
    assert.equal(await addUserCommand(['add', '--handle', 'chaos', '--sign-pub', rawPublicKey(seed).toString('hex'), '--role', 'admin', '--nats-url', `nats://${HOST}:${nats}`, '--state-dir', stateDir]), 0);
    const runDir = join(dir, `${name}-run`);
    const cfg: WorkloadConfig = {
      run: '20261206-031500',
      runDir,
      nodes: [{ name, url: `http://${HOST}:${http}`, nats: `nats://${HOST}:${nats}` }],
      admin: { handle: 'chaos', keyFile },
      clientsPerNode: 4,
      readShare: 0.5,
      writers: 2,
      roomsPerWriter: 1000,
      pool: 6,
      timeoutMs: 3000,
      revokeEveryMs: 1500,
      replayShare: 0.3,
      replayWithinMs: 0,
      seed: 20261206,
      maxSeconds: 60,
    };
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), seconds * 1000);
    await runWorkload(cfg, seed, ac.signal);
    clearTimeout(timer);
    const { ops } = readHistory(runDir);
    const { writers, pool } = await readRunUsers(runDir);
    const finals = await finalReads(ops, writers, pool, cfg.nodes);
    return checkHistory([...ops, ...finals], []);
  } finally {
    await stopDaemon(d, 30_000);
  }
}

test('a daemon that keeps its promises: the workload finds no violation', { timeout: 180_000 }, async () => {
  const r = await runAgainst('honest', '', 12);
  assert.ok(r.ops.ok > 100, formatCheck(r));
  for (const [k, p] of Object.entries(r.properties)) assert.equal(p.violations, 0, `${k}: ${p.examples.join('; ')}`);
  assert.ok(r.properties.replay.checked > 0 && r.properties.revocation.checked > 0, 'replays and revocations were tried');
});

test('a daemon that breaks each promise: the checker reports each class', { timeout: 180_000 }, async () => {
  const r = await runAgainst('liar', 'ack-without-write,stale-read,accept-replay,serve-revoked', 12);
  const p = r.properties;
  assert.ok(p.lost.violations > 0, `lost: ${formatCheck(r)}`);
  assert.match(p.lost.examples[0]!, /^rooms:w\S+: r\S+, acknowledged by op \d+ \(add-room .*\), is missing on liar$/);
  assert.ok(p.stale.violations > 0, `stale: ${formatCheck(r)}`);
  assert.ok(p.stale.examples.some((e) => /^rooms:w\S+: op \d+ \(read-rooms via liar, .*\) lacks r\S+, acknowledged by op \d+/.test(e)), p.stale.examples.join('\n'));
  assert.ok(p.replay.violations > 0, `replay: ${formatCheck(r)}`);
  assert.match(p.replay.examples[0]!, /^nonce \S+ accepted 2 times: /);
  assert.ok(p.revocation.violations > 0, `revocation: ${formatCheck(r)}`);
  assert.match(p.revocation.examples.join('\n'), /x\S+, revoked at [\d.]+ s, was served by liar: op \d+ \(user-request via liar/);
});

test('a daemon that drops the member index write: a member\'s own list of rooms reports it lost', { timeout: 120_000 }, async () => {
  const r = await runAgainst('noindex', 'skip-member-index', 12);
  const p = r.properties;
  assert.ok(p.lost.violations > 0, `lost: ${formatCheck(r)}`);
  assert.ok(p.lost.examples.some((e) => /^rooms:m\S+: r\S+, acknowledged by op \d+ \(add-member .*\), is missing on noindex$/.test(e)), p.lost.examples.join('\n'));
  assert.equal(p.phantom.violations, 0, formatCheck(r));
});
