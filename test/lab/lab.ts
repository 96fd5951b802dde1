// The multi-host lab, as other tests use it.
//
// Contract (kept small on purpose):
//   const lab = await ensureLab(3);   // >= 3 running Debian 13 hosts, built if needed
//   lab.hosts[i] = { name: 'node1', ip: '10.99.1.11', user: 'root', port: 22, identityFile }
//   ssh with StrictHostKeyChecking=yes and UserKnownHostsFile=lab.knownHostsFile
//   (or labSsh(lab, host, 'command')); waitRunning(lab, host) after a reboot.
//   apt on a host installs nodejs and nats-server from lab.repoDir, bound
//   read-only at /srv/repo (installing nats-server also starts Debian's own
//   nats-server.service, as on a real server). Hosts reach nothing but
//   10.99.1.0/24 (10.99.N.0/24 with UNIBUS_LAB_INSTANCE=N: a separate lab
//   for a second user of the same machine; scripts/ci.sh uses N=9).
// The lab is shared and outlives the process that built it (building costs
// seconds to a minute): `node --import tsx test/lab/cli.ts down` removes it,
// and scripts/ci.sh does so when the run ends. A test that changes a host
// should undo what it changed. labAvailable() says why a lab cannot be built
// here (not root, tools missing); under CI=true a lab test must fail on it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recipeHash } from './base.js';
import { LabError, type RunResult } from './exec.js';
import { isOurLoop, settleSystem } from './host.js';
import { sshRun } from './ssh.js';
import { STATE_FILE, readState, type LabState } from './state.js';

export { LabError } from './exec.js';

export interface LabHost {
  name: string;
  ip: string;
  user: string;
  port: number;
  identityFile: string;
}

export interface LabInfo {
  hosts: LabHost[];
  knownHostsFile: string;
  identityFile: string;
  /** The offline apt repository (.debs + Packages) bound at /srv/repo in every host. */
  repoDir: string;
  stateFile: string;
}

const TOOLS: [string, string][] = [
  ['debootstrap', 'debootstrap'],
  ['systemd-nspawn', 'systemd-container'],
  ['dpkg-scanpackages', 'dpkg-dev'],
  ['ip', 'iproute2'],
  ['ssh', 'openssh-client'],
  ['ssh-keygen', 'openssh-client'],
  ['flock', 'util-linux'],
];

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((d) => existsSync(`${d}/${cmd}`));
}

/** Whether this machine can build the lab; when not, the reason and the fix. */
export function labAvailable(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'the lab needs Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'the lab needs root (mounts, network namespaces, systemd-nspawn)' };
  const missing = TOOLS.filter(([cmd]) => !onPath(cmd));
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, p]) => p))].join(' ');
    return { ok: false, reason: `missing ${missing.map(([c]) => c).join(', ')}: run 'bash scripts/setup-tests.sh' (or apt-get install ${pkgs})` };
  }
  return { ok: true };
}

export function isHealthy(s: LabState): boolean {
  // A base removed from under running hosts leaves them without /usr: not a lab to hand out.
  const baseThere = existsSync(join(dirname(s.baseDir), 'complete'));
  return s.baseHash === recipeHash() && baseThere && s.hosts.length > 0 && s.hosts.every((h) => isOurLoop(h.loopPid, h.root));
}

export function toInfo(s: LabState): LabInfo {
  return {
    hosts: s.hosts.map((h) => ({ name: h.name, ip: h.ip, user: 'root', port: 22, identityFile: s.identityFile })),
    knownHostsFile: s.knownHostsFile,
    identityFile: s.identityFile,
    repoDir: s.repoDir,
    stateFile: STATE_FILE,
  };
}

/** The running lab, if one with at least n hosts is up. */
export function readLab(n = 1): LabInfo | undefined {
  const s = readState();
  return s && s.hosts.length >= n && isHealthy(s) ? toInfo(s) : undefined;
}

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Returns a lab of at least n hosts, bringing it up (or growing it) when needed. Bounded: 20 min. */
export async function ensureLab(n = 3): Promise<LabInfo> {
  const ready = readLab(n);
  if (ready) return ready;
  const avail = labAvailable();
  if (!avail.ok) throw new LabError(`lab unavailable: ${avail.reason}`);
  // Through the CLI, so that the lab lock and the detached boot loops work the same way as `up`.
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'up', '--hosts', String(n)], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20 * 60_000);
    child.on('error', reject);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c ?? 1);
    });
  });
  const lab = readLab(n);
  if (code !== 0 || !lab) throw new LabError(`lab up --hosts ${n} failed (exit ${code})`);
  return lab;
}

/**
 * Waits until the host's systemd says `running` (after a reboot, say), bounded.
 * A unit that failed to spawn at boot is started once more (see settleSystem).
 */
export function waitRunning(lab: LabInfo, host: LabHost, timeoutMs = 90_000): Promise<void> {
  return settleSystem(host.name, host, lab.knownHostsFile, timeoutMs);
}

/** Runs a shell line on a lab host over ssh with strict host-key checking. Never throws on exit != 0. */
export function labSsh(lab: LabInfo, host: LabHost, command: string, timeoutMs = 120_000): Promise<RunResult> {
  return sshRun(host, lab.knownHostsFile, command, timeoutMs);
}


/**
 * The lab hosts are shared: two test files changing them at once would undo
 * each other's work. A child holds an flock in the lab's state folder for the
 * whole test file (bounded wait); kill its group by PID at the end.
 */
export function holdLabLock(lab: LabInfo, waitS = 1200): Promise<ChildProcess> {
  const file = join(dirname(lab.stateFile), 'cluster-playbooks.lock');
  // -o: only flock itself holds the lock; its own group is killed at the end.
  const child = spawn('flock', ['-o', '-w', String(waitS), file, '-c', 'echo locked; exec sleep 3600'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`could not take ${file} (flock exit ${code})`)));
  });
}
