// cluster_chaos_served: plan() only finds the run; the wait for every node's
// acknowledged write is its step (steps/chaos.ts served), which reads the
// journal until each node answered 2xx to a write sent after the plan, bounded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { WRITES_FILE, type Attempt } from '../../src/controller/chaos/journal.js';
import { getModule } from '../../src/modules/index.js';
import { FakeTransport } from '../harness/fake-transport.js';
import { makeCtx } from './helpers.js';

const served = getModule('cluster_chaos_served');
const proj = mkdtempSync(join(tmpdir(), 'unibus-served-'));
after(() => rmSync(proj, { recursive: true, force: true }));
const vars = { nodes: [{ name: 'n1', route_ip: '127.0.0.11', ports: { http: 8470, nats: 4250 } }, { name: 'n2', route_ip: '127.0.0.12', ports: { http: 8470, nats: 4250 } }] };

test('the wait is a step: it ends when every node acknowledged a write sent after the plan, and fails at its bound naming who did not', async () => {
  const run = '20261206-010000';
  const runDir = join(proj, 'out', 'chaos', run);
  mkdirSync(runDir, { recursive: true });
  const t = new FakeTransport('controller').addFile(join(proj, 'out', 'chaos', 'latest'), `${run}\n`);
  const write = (a: Partial<Attempt>) => appendFileSync(join(runDir, WRITES_FILE), JSON.stringify({ seq: 1, attempt: 1, room: 'r', replied_at: Date.now(), status: 201, ...a }) + '\n');
  write({ node: 'n1', sent_at: Date.now() - 60_000 }); // before the plan: does not count

  const t0 = Date.now();
  const plan = await served.plan({ timeout: 60 }, makeCtx(t, { baseDirs: [proj], vars }));
  assert.ok(Date.now() - t0 < 5000, 'plan() did not wait');
  const wait = plan.commands[0];
  assert.ok(wait?.kind === 'exec' && typeof wait.stdin === 'string' && wait.argv.includes('served'), JSON.stringify(wait));
  const step = (stdin: string) => spawnSync(wait.argv[0]!, wait.argv.slice(1), { input: stdin, encoding: 'utf8', timeout: 30_000 });

  const shortBound = JSON.stringify({ ...JSON.parse(wait.stdin), timeoutMs: 1500 });
  write({ node: 'n1', sent_at: Date.now() });
  const late = step(shortBound);
  assert.equal(late.status, 1, late.stdout + late.stderr);
  assert.match(late.stderr, /^no write acknowledged by n2 within 2 s$/m);

  write({ node: 'n2', sent_at: Date.now(), status: 503 }); // refused: not served
  write({ node: 'n2', sent_at: Date.now() });
  const ok = step(wait.stdin);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^every node acknowledges writes again/m);
});
