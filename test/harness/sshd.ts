import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A real sshd on loopback for transport tests: its own host key, its own
// authorized_keys, in a 0700 temp folder, on a port from 22200-22299.

export interface TestSshd {
  dir: string;
  port: number;
  clientKey: string;
  hostPub: string;
  /** A known_hosts line for this sshd. */
  knownLine: string;
  stop(): Promise<void>;
}

function keygen(file: string, type = 'ed25519'): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
}

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function pickPort(): Promise<number> {
  const start = 22200 + Math.floor(Math.random() * 100);
  for (let i = 0; i < 100; i++) {
    const p = 22200 + ((start - 22200 + i) % 100);
    if (await isFree(p)) return p;
  }
  throw new Error('no free port in 22200-22299');
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export async function startSshd(): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'unibus-sshd-'));
  chmodSync(dir, 0o700);
  keygen(join(dir, 'host_ed25519'));
  keygen(join(dir, 'client'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')), { mode: 0o600 });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await pickPort();
  const conf = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_ed25519')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    // the 0700 folder sits under world-writable /tmp, which StrictModes would refuse
    'StrictModes no',
    'LogLevel ERROR',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'sshd_config'), conf);
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b) => (stderr += b));
  let exited = false;
  child.once('exit', () => (exited = true));
  const stop = async () => {
    if (!exited && child.pid) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await new Promise((r) => (exited ? r(null) : child.once('exit', r)));
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`sshd did not start on port ${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const hostPub = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim();
  const [type, b64] = hostPub.split(/\s+/);
  return {
    dir,
    port,
    clientKey: join(dir, 'client'),
    hostPub,
    knownLine: `[127.0.0.1]:${port} ${type} ${b64}\n`,
    stop,
  };
}

export { keygen };
