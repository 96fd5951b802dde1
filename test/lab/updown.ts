// Bringing the lab up and taking it down. Callers hold the lab lock (cli.ts).
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../src/util/fs.js';
import { ensureBase, pruneBases, recipeHash } from './base.js';
import { LabError, run } from './exec.js';
import { bootHost, findOrphanLoops, hostLayout, isOurLoop, knownHostLines, prepareHost, stopHost, unmountHost, waitHostReady } from './host.js';
import { isHealthy, labAvailable } from './lab.js';
import { createBridge, createHostNet, findLeftoverNets, removeBridge, removeHostNet } from './net.js';
import {
  BRIDGE, HOSTS_DIR, MAX_HOSTS, RUN_DIR, SSH_DIR, hostIp, hostName, otherInstancesUp, readState, removeState, writeState,
  type HostState, type LabState,
} from './state.js';

function log(msg: string): void {
  process.stderr.write(`lab: ${msg}\n`);
}

async function ensureClientKey(): Promise<string> {
  mkdirSync(SSH_DIR, { recursive: true, mode: 0o700 });
  const key = join(SSH_DIR, 'id_ed25519');
  if (!existsSync(key)) {
    await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'unibus-lab', '-f', key]);
  }
  return key;
}

/** Every host knows every other by name. Rewritten on each `up` so grown labs stay consistent. */
async function writeEtcHosts(hosts: HostState[]): Promise<void> {
  const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
  for (const h of hosts) lines.push(`${h.ip} ${h.name}`);
  for (const h of hosts) await writeFileAtomic(join(h.root, 'etc/hosts'), lines.join('\n') + '\n', 0o644);
}

export async function upLab(n: number): Promise<LabState> {
  if (!Number.isInteger(n) || n < 1 || n > MAX_HOSTS) throw new LabError(`--hosts: ${n} (expected 1..${MAX_HOSTS})`);
  const avail = labAvailable();
  if (!avail.ok) throw new LabError(`lab unavailable: ${avail.reason}`);
  let state = readState();
  if (state && !isHealthy(state)) {
    log('the recorded lab is stale or half up: taking it down first');
    await downLab();
    state = undefined;
  }
  if (state && state.hosts.length >= n) {
    log(`already up with ${state.hosts.length} hosts`);
    return state;
  }
  const started = Date.now();
  if (!state) {
    await downLab(); // leftovers of a lab whose state file was lost
    if (!otherInstancesUp()) pruneBases();
  }
  const base = await ensureBase();
  const identityFile = await ensureClientKey();
  const pub = readFileSync(identityFile + '.pub', 'utf8');
  const s: LabState = state ?? {
    version: 1, baseHash: recipeHash(), baseDir: base.rootfs, repoDir: base.repo,
    identityFile, knownHostsFile: join(SSH_DIR, 'known_hosts'), bridge: BRIDGE, hosts: [],
  };
  await createBridge();
  const fresh: HostState[] = [];
  for (let i = s.hosts.length + 1; i <= n; i++) {
    const h: HostState = { ...hostLayout(hostName(i), hostIp(i)), loopPid: 0 };
    s.hosts.push(h);
    fresh.push(h);
    await writeState(s); // before anything is made, so `down` finds it after a crash
    await createHostNet(h.netns, h.veth, h.ip);
    await prepareHost(h, base.rootfs, pub);
  }
  await writeEtcHosts(s.hosts);
  await writeFileAtomic(s.knownHostsFile, s.hosts.flatMap(knownHostLines).join('\n') + '\n', 0o600);
  for (const h of fresh) {
    h.loopPid = bootHost(h, base.repo);
    await writeState(s);
  }
  await Promise.all(fresh.map((h) => waitHostReady(h, { ...h, user: 'root', port: 22, identityFile }, s.knownHostsFile)));
  log(`up: ${fresh.length} new host(s), ${s.hosts.length} in all, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return s;
}

/** Removes everything the lab made (not the cached base). Safe to run twice, and with no state file. */
export async function downLab(): Promise<void> {
  const started = Date.now();
  const s = readState();
  const hosts = s?.hosts ?? [];
  const errors: string[] = [];
  // Every step runs even when an earlier one failed, so one stuck host does not leave the rest behind.
  const step = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (err) {
      errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  await Promise.all(
    hosts.map((h) =>
      step(`stop ${h.name}`, () =>
        stopHost(h.loopPid, h.root, isOurLoop(h.loopPid, h.root)
          ? { t: { ...h, user: 'root', port: 22, identityFile: s!.identityFile }, knownHosts: s!.knownHostsFile }
          : undefined)),
    ),
  );
  await Promise.all(findOrphanLoops().map((o) => step(`stop loop ${o.pid}`, () => stopHost(o.pid, o.root))));
  for (const h of hosts) {
    await step(`unmount ${h.name}`, () => unmountHost(h.dir));
    await step(`network of ${h.name}`, () => removeHostNet(h.netns, h.veth));
  }
  await step('unmount leftovers', async () => {
    if (!existsSync(HOSTS_DIR)) return;
    await unmountHost(HOSTS_DIR);
    rmSync(HOSTS_DIR, { recursive: true, force: true });
  });
  await step('leftover namespaces', async () => {
    const left = await findLeftoverNets();
    for (const ns of left.netns) await run(['ip', 'netns', 'del', ns]);
    for (const l of left.links) await run(['ip', 'link', 'del', l], { allowFail: true });
  });
  await step('bridge', removeBridge);
  if (errors.length) throw new LabError(`down left things behind (run it again):\n  ${errors.join('\n  ')}`);
  removeState();
  rmSync(RUN_DIR, { recursive: true, force: true });
  if (hosts.length) log(`down: ${hosts.length} host(s) removed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
