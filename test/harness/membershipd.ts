// membershipd as a real child process for tests: spawn from source with tsx,
// wait on /healthz (bounded), find its nats-server child by pid_file, stop
// everything by PID, even when a test fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { NATS_BIN } from './nats-server.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../../src/util/time.js';
import { ROOT } from './root.js';

const ENTRY = join(ROOT, 'src/daemon/cli-entry.ts');

export interface Daemon {
  proc: ChildProcess;
  pid: number;
  output: () => string;
  stateDir: string;
  http: string;
  /** The flags it was started with (after --state-dir): start it again with spawnDaemon(d.args, d). */
  args: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<Daemon>();

export function spawnDaemon(args: string[], o: { stateDir: string; http: string; env?: NodeJS.ProcessEnv }): Daemon {
  // MEMBERSHIPD_JS points at a compiled entry (bench: as installed, no tsx).
  const js = process.env.MEMBERSHIPD_JS;
  const pre = js ? [js] : ['--import', 'tsx', ENTRY];
  // Extra node flags for the daemon (benches: --cpu-prof, heap limits).
  const nodeArgs = process.env.MEMBERSHIPD_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const proc = spawn(process.execPath, [...nodeArgs, ...pre, '--state-dir', o.stateDir, ...args], {
    cwd: ROOT,
    // The nats-server every test runs (harness/nats-server.ts), unless the test names another.
    env: { ...process.env, UNIBUS_NATS_SERVER_BIN: NATS_BIN, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const d: Daemon = { proc, pid: proc.pid!, output: () => out, stateDir: o.stateDir, http: o.http, args, exited };
  live.add(d);
  void exited.then(() => live.delete(d));
  return d;
}

/** Runs membershipd expecting it to exit by itself (a refusal); bounded. */
export async function runToExit(args: string[], o: { stateDir: string; env?: NodeJS.ProcessEnv }, timeoutMs = 30_000) {
  const d = spawnDaemon(args, { ...o, http: '' });
  const t = setTimeout(() => d.proc.kill('SIGKILL'), timeoutMs);
  const r = await d.exited;
  clearTimeout(t);
  return { ...r, output: d.output() };
}

/** The nats-server child's PID from its pid_file (only if that process is a nats-server). */
export function childPid(d: Daemon): number | undefined {
  const f = join(d.stateDir, 'nats-server.pid');
  if (!existsSync(f)) return undefined;
  const pid = Number(readFileSync(f, 'utf8').trim());
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('nats-server') && cmd.includes(d.stateDir) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export async function getHealth(d: Daemon): Promise<{ status: number; body: any } | null> {
  try {
    const res = await fetch(`${d.http}/healthz`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: await res.json() };
  } catch {
    return null;
  }
}

/** Polls /healthz until it answers `status` (bounded); returns the last body. */
export async function waitHealth(d: Daemon, status: number, timeoutMs = 60_000, until: (body: any) => boolean = () => true): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    if (d.proc.exitCode !== null) throw new Error(`membershipd exited (${d.proc.exitCode}): ${d.output()}`);
    const h = await getHealth(d);
    last = h?.body;
    if (h?.status === status && until(h.body)) return h.body;
    await sleep(200);
  }
  throw new Error(`no /healthz ${status}${until.length ? ' (as asked)' : ''} within ${timeoutMs} ms; last ${JSON.stringify(last)}\n${d.output()}`);
}

/** SIGTERM, bounded wait, then SIGKILL of the daemon and its child. */
export async function stopDaemon(d: Daemon, timeoutMs = 20_000) {
  const child = childPid(d);
  if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGTERM');
  const r = await Promise.race([d.exited, sleep(timeoutMs).then(() => null)]);
  if (!r) d.proc.kill('SIGKILL');
  if (child) {
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return r ?? (await d.exited);
}

/** For after() hooks: kill every daemon still running and its child. */
export async function killAllDaemons(): Promise<void> {
  await Promise.all([...live].map((d) => stopDaemon(d, 1000)));
}
