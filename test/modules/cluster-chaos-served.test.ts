// cluster_chaos_served: plan() only finds the run; the wait for every node's
// acknowledged write is its step (steps/chaos.ts served), which reads the
// history until each node answered 2xx to a write invoked after the plan, bounded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CLOCK_FILE, OPS_FILE, type Op } from '../../src/controller/chaos/history.js';
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
  const t0 = Date.now() - 120_000;
  writeFileSync(join(runDir, CLOCK_FILE), JSON.stringify({ t0_wall: t0 }));
  let id = 0;
  const write = (a: Partial<Op> & { sent_at: number }) => {
    const { sent_at, ...rest } = a;
    const op: Op = { id: ++id, client: 'c', node: 'n1', f: 'add-room', key: 'rooms:w', value: `r${id}`, invoke: sent_at - t0, complete: sent_at - t0 + 5, wall: sent_at, type: 'ok', status: 201, ...rest };
    appendFileSync(join(runDir, OPS_FILE), JSON.stringify(op) + '\n');
  };
  write({ node: 'n1', sent_at: Date.now() - 60_000 }); // before the plan: does not count

  const planned = Date.now();
  const plan = await served.plan({ timeout: 60 }, makeCtx(t, { baseDirs: [proj], vars }));
  assert.ok(Date.now() - planned < 5000, 'plan() did not wait');
  const wait = plan.commands[0];
  assert.ok(wait?.kind === 'exec' && typeof wait.stdin === 'string' && wait.argv.includes('served'), JSON.stringify(wait));
  const step = (stdin: string) => spawnSync(wait.argv[0]!, wait.argv.slice(1), { input: stdin, encoding: 'utf8', timeout: 30_000 });

  const shortBound = JSON.stringify({ ...JSON.parse(wait.stdin), timeoutMs: 1500 });
  write({ node: 'n1', sent_at: Date.now() });
  const late = step(shortBound);
  assert.equal(late.status, 1, late.stdout + late.stderr);
  assert.match(late.stderr, /^no write acknowledged by n2 within 2 s$/m);

  write({ node: 'n2', sent_at: Date.now(), status: 503, type: 'info' }); // no answer: not served
  write({ node: 'n2', sent_at: Date.now(), f: 'read-rooms', read: [] }); // a read: not a write
  write({ node: 'n2', sent_at: Date.now(), f: 'add-member', key: 'members:r1', value: 'm1' });
  const ok = step(wait.stdin);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^every node acknowledges writes again/m);
});
