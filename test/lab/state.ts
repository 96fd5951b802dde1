// Where the lab keeps its things, and the state file that lets a test process
// use a lab that another process brought up. Names all start with NAME_PREFIX
// so a teardown can find leftovers of a crashed run without the state file.
//
// UNIBUS_LAB_INSTANCE=N (1..9, default 1) gives a separate lab beside the
// default one: subnet 10.99.N.0/24, its own names, folders and state file, so
// two people (or a CI run and a person) on one machine do not deploy to the
// same hosts at once. Instances share the cached base and the up/down lock.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/util/fs.js';

/** UNIBUS_LAB_CACHE moves it, e.g. to time a build from nothing without touching the shared cache. */
export const CACHE_DIR = process.env.UNIBUS_LAB_CACHE || '/var/cache/unibus-lab';
function readInstance(v: string | undefined): number {
  if (v === undefined || v === '') return 1;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`UNIBUS_LAB_INSTANCE: '${v}' (expected 1..9)`);
  return n;
}
export const INSTANCE = readInstance(process.env.UNIBUS_LAB_INSTANCE);
const SUFFIX = INSTANCE === 1 ? '' : String(INSTANCE);
export const NAME_PREFIX = `ublab${SUFFIX}-`;
export const RUN_DIR = `/run/unibus-lab${SUFFIX}`;
export const HOSTS_DIR = `/var/lib/unibus-lab${SUFFIX}/hosts`;
export const STATE_FILE = join(RUN_DIR, 'state.json');
/** One lock for every instance: they share the base cache. */
export const LOCK_FILE = '/run/unibus-lab.lock';
export const SSH_DIR = join(RUN_DIR, 'ssh');
export const LOG_DIR = join(RUN_DIR, 'logs');

export const BRIDGE = `ublab${SUFFIX || '0'}`;
export const BRIDGE_CIDR = `10.99.${INSTANCE}.1/24`;
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
  return `10.99.${INSTANCE}.${10 + i}`;
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

export function writeState(s: LabState): Promise<void> {
  return writeFileAtomic(STATE_FILE, JSON.stringify(s, null, 2) + '\n', 0o644);
}

/** State files of the other instances' labs (they may be using an older base). */
export function otherInstancesUp(): boolean {
  for (let n = 1; n <= 9; n++) {
    if (n === INSTANCE) continue;
    if (existsSync(`/run/unibus-lab${n === 1 ? '' : n}/state.json`)) return true;
  }
  return false;
}

export function removeState(): void {
  rmSync(STATE_FILE, { force: true });
}
