import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { getModule } from '../../src/modules/index.js';
import { runCommands } from '../../src/modules/run.js';
import type { ModuleContext } from '../../src/modules/types.js';
import { LocalTransport } from '../../src/transport/local.js';
import { DirectReader } from '../../src/modules/facts/read.js';

// The fact and action scripts of package, service (process manager) and
// wait_for, run for real on this machine through the local transport.

const dir = mkdtempSync(join(tmpdir(), 'unibus-real-'));
const started: number[] = [];
after(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});
const t = new LocalTransport();
const ctx: ModuleContext = { transport: t, facts: new DirectReader(t), controller: new DirectReader(t), vars: {}, check: false, baseDirs: [], render: () => '', host: 'controller' };

function state(pid: number): string {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2)[0]!;
  } catch {
    return 'gone';
  }
}
const alive = (pid: number) => !['Z', 'gone'].includes(state(pid));

describe('package facts from the real dpkg', () => {
  it('sees an installed package, its minimum version, and a missing one', async () => {
    const pkg = getModule('package');
    const ok = await pkg.plan({ name: ['coreutils>=1.0', 'dpkg'] }, ctx);
    assert.equal(ok.changed, false, ok.reason);
    assert.match(String((ok.result?.versions as Record<string, string>).coreutils), /^\d/);
    const old = await pkg.plan({ name: ['coreutils>=999'] }, ctx);
    assert.match(old.reason, /^coreutils \S+ < 999$/);
    const missing = await pkg.plan({ name: ['no-such-package-unibus'] }, ctx);
    assert.equal(missing.reason, 'no-such-package-unibus missing');
  });
});

describe('process manager for real', () => {
  const svc = getModule('service');
  const pidfile = join(dir, 'run', 'app.pid');
  const log = join(dir, 'log', 'app.log');
  const envFile = join(dir, 'app.env');
  const out = join(dir, 'out');
  writeFileSync(envFile, '# comment\nGREETING="hello there"\nRAW=$HOME `x`\n');
  // ignores SIGTERM, so stopping it needs the SIGKILL after the timeout
  const cmd = ['sh', '-c', `trap "" TERM; echo "$GREETING|$RAW" > ${out}; echo started; while :; do sleep 0.2; done`];
  const args = { name: 'app', manager: 'process', state: 'started', cmd, pidfile, log, env_file: envFile, stop_timeout: 1 };

  it('starts detached with env file and log, then is up to date', async () => {
    const p1 = await svc.plan(args, ctx);
    assert.equal(p1.changed, true);
    const r = await runCommands(t, p1.commands);
    assert.equal(r.error, undefined, r.error?.message);
    const pid = Number(readFileSync(pidfile, 'utf8'));
    started.push(pid);
    assert.ok(alive(pid));
    // its own session: not killed with the exec that started it
    const sid = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3];
    assert.equal(Number(sid), pid);
    // values are taken literally, never expanded
    assert.equal(readFileSync(out, 'utf8'), 'hello there|$HOME `x`\n');
    assert.match(readFileSync(log, 'utf8'), /started/);
    const p2 = await svc.plan(args, ctx);
    assert.equal(p2.changed, false, p2.reason);
    assert.equal(p2.reason, `running (pid ${pid})`);
  });

  it('stops with SIGTERM, then SIGKILL after stop_timeout, and removes the pidfile', async () => {
    const pid = Number(readFileSync(pidfile, 'utf8'));
    const p = await svc.plan({ ...args, state: 'stopped' }, ctx);
    assert.equal(p.changed, true);
    const r = await runCommands(t, p.commands);
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(alive(pid), false);
    assert.equal(existsSync(pidfile), false);
    assert.equal((await svc.plan({ ...args, state: 'stopped' }, ctx)).changed, false);
  });

  it('a command that exits at once fails the start with the log tail', async () => {
    const bad = { ...args, name: 'bad', pidfile: join(dir, 'bad.pid'), log: join(dir, 'bad.log'), cmd: ['sh', '-c', 'echo boom-message; exit 3'] };
    const r = await runCommands(t, (await svc.plan(bad, ctx)).commands);
    assert.ok(r.error);
    assert.match(r.last!.stderr, /boom-message/);
    assert.equal(existsSync(join(dir, 'bad.pid')), false);
  });
});

describe('wait_for for real', () => {
  const w = getModule('wait_for');
  it('tcp: succeeds on a listening port and times out on a closed one', async () => {
    const srv = createServer((s) => s.end()).listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    const port = (srv.address() as AddressInfo).port;
    try {
      const ok = await runCommands(t, (await w.plan({ port, timeout: 5 }, ctx)).commands);
      assert.equal(ok.error, undefined);
      const stopped = await runCommands(t, (await w.plan({ port, state: 'stopped', timeout: 1, sleep: 0.2 }, ctx)).commands);
      assert.ok(stopped.error);
      assert.match(stopped.last!.stderr, /timed out after 1 s/);
    } finally {
      srv.close();
    }
  });
  it('http: waits for the expected status', async () => {
    let n = 0;
    const srv = createHttpServer((req, res) => {
      n++;
      res.statusCode = req.url === '/healthz?x=1' && n >= 2 ? 200 : 503;
      res.end();
    }).listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    const port = (srv.address() as AddressInfo).port;
    try {
      const r = await runCommands(t, (await w.plan({ url: `http://127.0.0.1:${port}/healthz?x=1`, timeout: 5, sleep: 0.1 }, ctx)).commands);
      assert.equal(r.error, undefined, r.last?.stderr);
      assert.ok(n >= 2);
    } finally {
      srv.close();
    }
  });
  it('http: a timeout names the last answer (the body of a 503)', async () => {
    const srv = createHttpServer((_req, res) => {
      res.statusCode = 503;
      res.end('{"status":"unavailable","reason":"stream KV_x: 1 of 3 replicas current"}');
    }).listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    const port = (srv.address() as AddressInfo).port;
    try {
      const r = await runCommands(t, (await w.plan({ url: `http://127.0.0.1:${port}/healthz`, timeout: 1, sleep: 0.2 }, ctx)).commands);
      assert.ok(r.error);
      assert.match(r.last!.stderr, /timed out after 1 s waiting for http 127\.0\.0\.1/);
      assert.match(r.last!.stderr, /last answer: \{"status":"unavailable","reason":"stream KV_x: 1 of 3 replicas current"\}/);
    } finally {
      srv.close();
    }
  });
  it('path: present and absent', async () => {
    const p = join(dir, 'appears');
    setTimeout(() => writeFileSync(p, ''), 300);
    const r = await runCommands(t, (await w.plan({ path: p, timeout: 5, sleep: 0.1 }, ctx)).commands);
    assert.equal(r.error, undefined);
    const gone = await runCommands(t, (await w.plan({ path: p, state: 'absent', timeout: 0, sleep: 0.1 }, ctx)).commands);
    assert.ok(gone.error);
  });
});
