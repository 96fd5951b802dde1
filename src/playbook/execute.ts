// A whole run: connect to every target host, take the deploy lease on each
// (check mode: only look), read pending handlers, run the plays, append the
// audit line, release the leases. Returns the recap and the exit code.
import type { Inventory, NodeSpec } from '../inventory/types.js';
import type { Transport } from '../transport/types.js';
import { auditLine } from './audit.js';
import { CheckOverlay } from './check-overlay.js';
import { BatchingTransport } from './execute-batch.js';
import type { Emit } from './events.js';
import { runPlay, type HostState, type PlayEnv } from './execute-play.js';
import { mapLimit } from '../util/process.js';
import { parsePending, PENDING_FILE, PendingStore } from './handlers.js';
import { LeaseSet } from './leases.js';
import { DEFAULT_TTL_S, newLease, peekLease } from './lock.js';
import { EXIT, Recap } from './recap.js';
import type { InventoryTools, Toolkit } from './toolkit.js';
import type { Playbook } from './types.js';

export interface HostPaths {
  /** Lease, pending handlers. */
  stateDir: string;
  /** audit.log */
  logDir: string;
}

export interface RunOptions {
  playbook: Playbook;
  /** Name recorded in leases and audit lines (e.g. "bringup"). */
  playbookName: string;
  inventory: Inventory;
  check: boolean;
  /** --diff: modules fetch current content so that diffs can be shown. */
  diff?: boolean;
  tags?: string[];
  skipTags?: string[];
  /** Host patterns of --limit; absent: no limit. */
  limit?: string[];
  forks?: number;
  extraVars?: Record<string, unknown>;
  lockWaitS?: number;
  lockTtlS?: number;
  toolkit: Toolkit & InventoryTools;
  connect(node: NodeSpec): Promise<Transport>;
  controller: () => Transport;
  pathsOf(node: NodeSpec): HostPaths;
  /** Folders searched for template/copy src (the project folder). */
  baseDirs: string[];
  emit: Emit;
  signal?: AbortSignal;
  /** Waits between until/retries attempts (tests pass a no-op). */
  sleep?: (ms: number) => Promise<void>;
}

export interface RunOutcome {
  recap: Recap;
  exitCode: number;
}

function targetNodes(o: RunOptions): NodeSpec[] {
  const byName = new Map<string, NodeSpec>();
  const limit = o.limit?.length ? new Set(o.toolkit.selectHosts(o.inventory, o.limit).map((n) => n.name)) : null;
  for (const play of o.playbook.plays) {
    for (const n of o.toolkit.selectHosts(o.inventory, play.hosts)) if (!limit || limit.has(n.name)) byName.set(n.name, n);
  }
  return [...byName.values()];
}

/**
 * Runs the playbook. Throws LockHeldError when a host's lease is held (nothing
 * was changed then); every other problem ends up in the recap.
 */
export async function runPlaybook(o: RunOptions): Promise<RunOutcome> {
  const nodes = targetNodes(o);
  const recap = new Recap(nodes.map((n) => n.name));
  o.emit({ event: 'run_start', playbook: o.playbookName, check: o.check, hosts: nodes.map((n) => n.name) });
  const warn = (host: string, message: string) => o.emit({ event: 'warning', host, message });
  const forks = o.forks && o.forks > 0 ? o.forks : Math.max(1, nodes.length);

  const hosts: HostState[] = [];
  const opened: Transport[] = [];
  await mapLimit(nodes, forks, async (node) => {
    try {
      const transport = await o.connect(node);
      opened.push(transport);
      hosts.push({ name: node.name, node, transport, baseVars: o.toolkit.hostVars(o.inventory, node), vars: {}, registered: {}, status: 'active', become: node.user !== 'root', notified: new Set(), pendingNames: [] });
    } catch (e) {
      recap.count(node.name, 'unreachable');
      o.emit({ event: 'host_result', task: 'connect', handler: false, check: o.check, host: node.name, status: 'unreachable', reason: (e as Error).message, commands: [], diff: [], noLog: false });
    }
  });
  hosts.sort((a, b) => nodes.indexOf(a.node) - nodes.indexOf(b.node));

  try {
    return await runConnected(o, hosts, recap, forks, warn);
  } finally {
    await Promise.all(opened.map((t) => t.close().catch(() => undefined)));
  }
}

async function runConnected(o: RunOptions, hosts: HostState[], recap: Recap, forks: number, warn: (host: string, message: string) => void): Promise<RunOutcome> {
  const lease = newLease(o.playbookName, o.lockTtlS ?? DEFAULT_TTL_S);
  const leases = new LeaseSet(lease, warn);
  const targets = hosts.map((h) => ({ name: h.name, transport: h.transport, stateDir: o.pathsOf(h.node).stateDir }));
  // Taking the lease (check mode: looking at it) also reads the host's pending handlers.
  const pendingFiles = o.check
    ? new Map(await Promise.all(targets.map(async (t) => [t.name, await peekLease(t.transport, t.stateDir, lease.ttl_s, PENDING_FILE)] as const)))
    : await leases.acquireAll(targets, o.lockWaitS ?? 0, PENDING_FILE);

  try {
    for (const h of hosts) {
      h.transport = new BatchingTransport(h.transport);
      if (o.check) {
        h.overlay = new CheckOverlay(h.transport, h.node.user);
        h.transport = h.overlay;
      }
      const list = parsePending(pendingFiles.get(h.name) ?? null);
      h.pendingNames = list.map((p) => p.handler);
      if (!o.check) h.pending = new PendingStore(h.transport, o.pathsOf(h.node).stateDir, list);
    }
    const allHostVars = Object.fromEntries(o.inventory.nodes.map((n) => [n.name, o.toolkit.hostVars(o.inventory, n)]));
    const env: PlayEnv = {
      toolkit: o.toolkit, check: o.check, diff: o.diff ?? false, become: false, controller: o.controller, baseDirs: o.baseDirs,
      tags: o.tags ?? [], skipTags: o.skipTags ?? [], forks, playbook: o.playbookName,
      extraVars: o.extraVars ?? {}, emit: o.emit, sleep: o.sleep, recap, signal: o.signal, allHostVars, playName: '',
    };
    for (const play of o.playbook.plays) {
      const names = new Set(o.toolkit.selectHosts(o.inventory, play.hosts).map((n) => n.name));
      const playHosts = hosts.filter((h) => names.has(h.name) && h.status === 'active');
      if (!playHosts.length) continue;
      if (!(await runPlay(play, playHosts, env))) break;
      if (o.signal?.aborted) break;
    }
  } finally {
    if (!o.check) {
      // The audit line goes out with the release of the lease: one round trip per host.
      const exit = o.signal?.aborted ? EXIT.interrupted : recap.exitCode();
      const byName = new Map(hosts.map((h) => [h.name, h]));
      await leases.releaseAll((name) => {
        const h = byName.get(name);
        if (!h || h.status === 'unreachable') return undefined;
        return { dir: o.pathsOf(h.node).logDir, line: JSON.stringify(auditLine(lease, name, exit, recap.hosts.get(name)!)) + '\n' };
      });
    }
  }
  o.emit({ event: 'recap', check: o.check, hosts: recap.toJSON() });
  return { recap, exitCode: o.signal?.aborted ? EXIT.interrupted : recap.exitCode() };
}
