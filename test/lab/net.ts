// The lab's network: one bridge in the root namespace (10.99.N.1/24, N the
// instance, 1 by default) and one network namespace per host with a veth on the
// bridge. No default route inside a host, so nothing in the lab can reach
// outside 10.99.N.0/24.
import { existsSync } from 'node:fs';
import { run, waitFor } from './exec.js';
import { BRIDGE, BRIDGE_CIDR, NAME_PREFIX } from './state.js';

async function linkExists(name: string): Promise<boolean> {
  return (await run(['ip', 'link', 'show', 'dev', name], { allowFail: true })).code === 0;
}

export async function createBridge(): Promise<void> {
  if (!(await linkExists(BRIDGE))) {
    await run(['ip', 'link', 'add', BRIDGE, 'type', 'bridge']);
  }
  const addrs = (await run(['ip', '-o', '-4', 'addr', 'show', 'dev', BRIDGE])).stdout;
  if (!addrs.includes(BRIDGE_CIDR)) await run(['ip', 'addr', 'add', BRIDGE_CIDR, 'dev', BRIDGE]);
  await run(['ip', 'link', 'set', BRIDGE, 'up']);
}

/** Makes the host's namespace with eth0 = ip/24; any leftover of the same name is replaced. */
export async function createHostNet(netns: string, veth: string, ip: string): Promise<void> {
  await removeHostNet(netns, veth);
  await run(['ip', 'netns', 'add', netns]);
  await run(['ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  await run(['ip', 'link', 'set', veth, 'master', BRIDGE, 'up']);
  await run(['ip', '-n', netns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  await run(['ip', '-n', netns, 'link', 'set', 'eth0', 'up']);
  await run(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
}

export async function removeHostNet(netns: string, veth: string): Promise<void> {
  if (existsSync(`/run/netns/${netns}`)) await run(['ip', 'netns', 'del', netns]);
  // Deleting the namespace takes its veth end with it, a moment later; a
  // half-made pair may remain. Either way the link must be gone in a bound.
  await waitFor(`link ${veth} to go`, 10_000, async () => {
    if (!(await linkExists(veth))) return true;
    await run(['ip', 'link', 'del', veth], { allowFail: true });
    return undefined;
  });
}

export async function removeBridge(): Promise<void> {
  if (await linkExists(BRIDGE)) await run(['ip', 'link', 'del', BRIDGE]);
}

/** Namespaces and links left by a lab whose state file is gone. */
export async function findLeftoverNets(): Promise<{ netns: string[]; links: string[] }> {
  const ns = (await run(['ip', 'netns', 'list'], { allowFail: true })).stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(NAME_PREFIX));
  const links = (await run(['ip', '-o', 'link', 'show'], { allowFail: true })).stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n.startsWith(NAME_PREFIX));
  return { netns: ns, links };
}
