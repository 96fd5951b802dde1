// `unibus status` on a project never brought up: the default inventory (three
// nodes on 127.0.0.11-13) on free ports, nothing listening. Each node gets one
// line with the cause and its address, in text and in --json, and nothing
// that merely follows from the nodes being down; `play verify`'s task
// (cluster_verify) reports the same lines, and leaves any wait to its step.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadInventory } from '../../src/inventory/load.js';
import { describeNode } from '../../src/inventory/vars.js';
import { cluster_verify } from '../../src/modules/cluster/verify.js';
import { verdictOf } from '../../src/modules/run.js';
import { fakeHost, makeCtx } from '../modules/helpers.js';
import { freePortOn } from '../harness/ports.js';
import { unibus } from '../harness/project.js';
import { ROOT } from '../harness/root.js';

const IPS = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];

describe('unibus status on a cluster that is down', () => {
  let dir: string;
  let inventory: string;
  let httpPort: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'unibus-status-down-'));
    let text = readFileSync(join(ROOT, 'inventory.yaml'), 'utf8');
    const used = new Set<number>();
    for (const key of ['http', 'nats', 'route']) {
      const p = await freePortOn(IPS, used);
      used.add(p);
      if (key === 'http') httpPort = p;
      text = text.replace(new RegExp(`^(    ${key}: )\\d+`, 'm'), `$1${p}`);
    }
    inventory = join(dir, 'inventory.yaml');
    writeFileSync(inventory, text);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('says once per node: connection refused at its address:port', { timeout: 60_000 }, async () => {
    const s = await unibus(['status', '-i', inventory], 30_000);
    assert.equal(s.code, 1, s.stdout + s.stderr);
    assert.doesNotMatch(s.stdout + s.stderr, /fetch failed/);
    const drift = s.stdout.slice(s.stdout.indexOf('DRIFT')).split('\n').filter((l) => l.startsWith('  - '));
    assert.deepEqual(
      drift,
      ['n1', 'n2', 'n3'].map((n, i) => `  - ${n}: /healthz unreachable: connection refused at ${IPS[i]}:${httpPort}`),
      s.stdout,
    );
    assert.match(s.stdout, /^DRIFT \(3\):$/m);
  });

  it('--json carries each cause as a structured field', { timeout: 60_000 }, async () => {
    const s = await unibus(['status', '-i', inventory, '--json'], 30_000);
    assert.equal(s.code, 1, s.stdout + s.stderr);
    const r = JSON.parse(s.stdout);
    assert.deepEqual(
      r.nodes.map((n: { name: string; http: null; cause: unknown }) => [n.name, n.http, n.cause]),
      ['n1', 'n2', 'n3'].map((n, i) => [n, null, { kind: 'refused', address: `${IPS[i]}:${httpPort}`, code: 'ECONNREFUSED', message: `connection refused at ${IPS[i]}:${httpPort}` }]),
    );
    assert.equal(r.drift.length, 3, r.drift.join('\n'));
    assert.doesNotMatch(s.stdout, /fetch failed/);
  });

  it('play verify (cluster_verify) fails with the same one line per node', { timeout: 30_000 }, async () => {
    const inv = loadInventory(inventory);
    const vars = { cluster: inv.cluster, nodes: inv.nodes.map((n) => describeNode(inv, n)) };
    const plan = await cluster_verify.plan({ timeout: 0 }, makeCtx(fakeHost('controller'), { vars, baseDirs: [dir] }));
    assert.equal(plan.failed, true);
    assert.equal(plan.reason, `drift: ${['n1', 'n2', 'n3'].map((n, i) => `${n}: /healthz unreachable: connection refused at ${IPS[i]}:${httpPort}`).join('; ')}`);
  });

  it('with a timeout, plan() only probes once and leaves the wait to a step whose verdict fails at its bound', { timeout: 60_000 }, async () => {
    const inv = loadInventory(inventory);
    const vars = { cluster: inv.cluster, nodes: inv.nodes.map((n) => describeNode(inv, n)) };
    const t0 = Date.now();
    const plan = await cluster_verify.plan({ timeout: 2 }, makeCtx(fakeHost('controller'), { vars, baseDirs: [dir] }));
    assert.ok(Date.now() - t0 < 2000, 'plan did not wait out the 2 s bound');
    assert.equal(plan.failed, undefined);
    assert.match(plan.reason, /^waiting up to 2 s for: n1: \/healthz unreachable: connection refused at/);
    const wait = plan.commands[0];
    assert.ok(wait?.kind === 'exec' && typeof wait.stdin === 'string' && wait.argv.some((a) => /steps[\\/]verify\.[jt]s$/.test(a)), JSON.stringify(wait));
    const r = spawnSync(wait.argv[0]!, wait.argv.slice(1), { input: wait.stdin, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const v = verdictOf(plan.commands, { code: r.status, stdout: r.stdout, stderr: r.stderr });
    assert.equal(v?.failed, true, r.stdout);
    assert.match(v!.reason, /^after 2 s, drift: n1: \/healthz unreachable: connection refused at 127\.0\.0\.11:\d+; n2: /);
    assert.equal((v!.result?.drift as string[]).length, 3, JSON.stringify(v!.result?.drift));
  });
});
