// A temporary copy of the project for cluster tests: the given inventory
// (ports swapped for free ones), the real playbooks/roles/templates linked
// in, state under the temp folder. The runs build and use the package's own
// dist/membershipd.mjs, as a user's do. Teardown kills what the runs started, by PID.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawPublicKey } from '../../src/client/index.js';
import { freePortOn } from './ports.js';
import { CLI_FROM_SOURCE, ROOT } from './root.js';

/**
 * The default inventory on other loopback addresses (`127.0.0.1N` becomes
 * `${prefix}N`), with a first admin `ops` whose signing key is `seed`'s: a
 * test's signed requests are served from the first bringup on.
 */
export function opsInventory(prefix: string, seed: Buffer): string {
  const text = readFileSync(join(ROOT, 'inventory.yaml'), 'utf8')
    .replace(/127\.0\.0\.1([123])\b/g, `${prefix}$1`)
    .replace(/^ {2}state_dir: (.*)$/m, `  state_dir: $1\n  admin: { handle: ops, pubkeys: ["ed25519:${rawPublicKey(seed).toString('hex')}"] }`);
  if (!text.includes('handle: ops')) throw new Error('inventory.yaml has no cluster.state_dir line to put the admin beside');
  return text;
}

export interface Project {
  dir: string;
  inventory: string;
  stateOf(node: string): string;
  cleanup(): Promise<void>;
}

export async function makeProject(inventoryText: string, hosts: string[]): Promise<Project> {
  const dir = mkdtempSync(join(tmpdir(), 'unibus-clplay-'));
  for (const d of ['playbooks', 'roles', 'templates']) symlinkSync(join(ROOT, d), join(dir, d));
  const used = new Set<number>();
  let text = inventoryText;
  for (const key of ['http', 'nats', 'route']) {
    const p = await freePortOn(hosts, used);
    used.add(p);
    text = text.replace(new RegExp(`^(    ${key}: )\\d+`, 'm'), `$1${p}`);
  }
  const inventory = join(dir, 'inventory.yaml');
  writeFileSync(inventory, text);
  const stateOf = (node: string) => join(dir, '.unibus', 'local', node);
  return {
    dir,
    inventory,
    stateOf,
    async cleanup() {
      killStarted(join(dir, '.unibus', 'local'));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills every membershipd the runs started under stateRoot and its
 * nats-server: each by the PID in its pidfile, and only when that process's
 * command line names this state folder. `only`: that node's alone.
 */
export function killStarted(stateRoot: string, only?: string): void {
  if (!existsSync(stateRoot)) return;
  for (const node of readdirSync(stateRoot)) {
    if (only !== undefined && node !== only) continue;
    for (const f of ['membershipd.pid', 'nats-server.pid']) {
      const file = join(stateRoot, node, f);
      if (!existsSync(file)) continue;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (!pid || !alive(pid)) continue;
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      if (cmd.includes(join(stateRoot, node))) process.kill(pid, 'SIGKILL');
    }
  }
}

export function pidOf(p: Project, node: string): number | null {
  const f = join(p.stateOf(node), 'membershipd.pid');
  if (!existsSync(f)) return null;
  const pid = Number(readFileSync(f, 'utf8').trim());
  return pid && alive(pid) ? pid : null;
}

/** Runs `unibus <args>` (status etc.) as a child; bounded. */
export function unibus(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', CLI_FROM_SOURCE, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b) => (stdout += b));
  child.stderr.on('data', (b) => (stderr += b));
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(t);
    resolve({ code, stdout, stderr });
  }));
}
