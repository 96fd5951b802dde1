// Where the lab keeps its things, and the state file that lets a test process
// use a lab that another process brought up. Names all start with "ublab" so a
// teardown can find leftovers of a crashed run without the state file.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** UNIBUS_LAB_CACHE moves it, e.g. to time a build from nothing without touching the shared cache. */
export const CACHE_DIR = process.env.UNIBUS_LAB_CACHE || '/var/cache/unibus-lab';
export const RUN_DIR = '/run/unibus-lab';
export const HOSTS_DIR = '/var/lib/unibus-lab/hosts';
export const STATE_FILE = join(RUN_DIR, 'state.json');
export const LOCK_FILE = '/run/unibus-lab.lock';
export const SSH_DIR = join(RUN_DIR, 'ssh');
export const LOG_DIR = join(RUN_DIR, 'logs');

export const BRIDGE = 'ublab0';
export const BRIDGE_CIDR = '10.99.1.1/24';
export const MAX_HOSTS = 32;
/** argv[0] of every boot loop, so its PID can be checked before it is signalled. */
export const LOOP_NAME = 'ublab-boot';

export interface HostState {
  name: string;
  ip: string;
  netns: string;
  /** The veth end in the root namespace, enslaved to the bridge. */
  veth: string;
  dir: string;
  root: string;
  /** PID of the loop that re-runs systemd-nspawn on reboot (exit 133). */
  loopPid: number;
  logFile: string;
}

export interface LabState {
  version: 1;
  baseHash: string;
  baseDir: string;
  repoDir: string;
  identityFile: string;
  knownHostsFile: string;
  bridge: string;
  hosts: HostState[];
}

export function hostName(i: number): string {
  return `node${i}`;
}

export function hostIp(i: number): string {
  return `10.99.1.${10 + i}`;
}

export function readState(file = STATE_FILE): LabState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const s = JSON.parse(text) as LabState;
    return s.version === 1 && Array.isArray(s.hosts) ? s : undefined;
  } catch {
    return undefined; // a torn or foreign file: `up` then cleans leftovers by name
  }
}

/** Atomic: a reader sees the old file or the new one, never half of one. */
export function writeFileAtomic(file: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, file);
}

export function writeState(s: LabState): void {
  writeFileAtomic(STATE_FILE, JSON.stringify(s, null, 2) + '\n');
}

export function removeState(): void {
  rmSync(STATE_FILE, { force: true });
}
