// A whole run: connect to every target host, take the deploy lease on each
// (check mode: only look), read pending handlers, run the plays, append the
// audit line, release the leases. Returns the recap and the exit code.
import { UnibusError } from '../errors.js';
import type { Inventory, NodeSpec } from '../inventory/types.js';
import { withoutSudo, type Transport } from '../transport/types.js';
import { auditLine } from './audit.js';
import { CheckModeReader, CheckModeTransport } from './facts-check.js';
import { BatchingReader } from './facts-read.js';
import { DirectReader } from '../modules/facts/read.js';
import type { Emit } from './events.js';
import { runPlay, type HostState, type PlayEnv } from './execute-play.js';
import { mapLimit } from '../util/process.js';
import { parsePending, PENDING_FILE, PendingStore } from './handlers.js';
import { LeaseSet } from './leases.js';
import { DEFAULT_TTL_S, newLease } from './lock.js';
import { EXIT, Recap } from './recap.js';
import { findUnmatchedTags, listTags } from './tags.js';
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

/** A --limit that leaves no host of the playbook: refused, as ansible-playbook does, before any host is touched. */
export class LimitMatchesNoHostError extends UnibusError {
  constructor(readonly limit: string[], targets: string[], inv: Inventory) {
    const roles = [...new Set(inv.nodes.map((n) => n.role))];
    super(
      `--limit '${limit.join(',')}' matches no host this playbook targets (${targets.length ? targets.join(', ') : 'none'}), so nothing was run; ` +
        `${inv.file} has nodes ${inv.nodes.map((n) => n.name).join(', ')} and roles ${roles.join(', ')}`,
    );
  }
}

function targetNodes(o: RunOptions): NodeSpec[] {
  const byName = new Map<string, NodeSpec>();
  const limit = o.limit?.length ? new Set(o.toolkit.selectHosts(o.inventory, o.limit).map((n) => n.name)) : null;
  const targeted = new Set<string>();
  for (const play of o.playbook.plays) {
    for (const n of o.toolkit.selectHosts(o.inventory, play.hosts)) {
      targeted.add(n.name);
      if (!limit || limit.has(n.name)) byName.set(n.name, n);
    }
  }
  // Without a limit, plays that match no host are Ansible's "nothing to do"; with
  // one, it is the limit that is wrong (a typo'd '!name', a node no play targets).
  if (limit && !byName.size) throw new LimitMatchesNoHostError(o.limit!, o.inventory.nodes.filter((n) => targeted.has(n.name)).map((n) => n.name), o.inventory);
  return [...byName.values()];
}

/** One warning per tag option whose tags no task carries, naming the tags there are. */
function warnUnmatchedTags(o: RunOptions): void {
  const there = listTags(o.playbook.plays);
  const known = there.length ? `tags in this playbook: ${there.join(', ')}` : 'no task in this playbook has a tag';
  for (const [flag, asked] of [['--tags', o.tags ?? []], ['--skip-tags', o.skipTags ?? []]] as const) {
    const unmatched = findUnmatchedTags(o.playbook.plays, asked);
    if (unmatched.length) o.emit({ event: 'warning', message: `${flag}: no task is tagged ${unmatched.map((t) => `'${t}'`).join(' or ')} (${known})` });
  }
}

/**
 * Runs the playbook. Throws LimitMatchesNoHostError before any host is touched
 * when --limit leaves none, and LockHeldError when a host's lease is held
 * (nothing was changed then); every other problem ends up in the recap.
 */
export async function runPlaybook(o: RunOptions): Promise<RunOutcome> {
  const nodes = targetNodes(o);
  const recap = new Recap(nodes.map((n) => n.name));
  o.emit({ event: 'run_start', playbook: o.playbookName, check: o.check, hosts: nodes.map((n) => n.name) });
  warnUnmatchedTags(o);
  const warn = (host: string, message: string) => o.emit({ event: 'warning', host, message });
  const forks = o.forks && o.forks > 0 ? o.forks : Math.max(1, nodes.length);

  const hosts: HostState[] = [];
  const opened: Transport[] = [];
  await mapLimit(nodes, forks, async (node) => {
    try {
      const opened1 = await o.connect(node);
      opened.push(opened1);
      // A systemd-user node's login user does everything itself: no sudo, for the deploy lease too.
      const own = node.service_manager === 'systemd-user';
      const transport = own ? withoutSudo(opened1) : opened1;
      hosts.push({ name: node.name, node, transport, baseVars: o.toolkit.hostVars(o.inventory, node), vars: {}, registered: {}, status: 'active', become: node.user !== 'root' && !own, notified: new Set(), pendingNames: [] });
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
  // Check mode judges the leases as the run would (refuses, waits, warns of a takeover) and takes none.
  const pendingFiles = o.check ? await leases.peekAll(targets, o.lockWaitS ?? 0, PENDING_FILE) : await leases.acquireAll(targets, o.lockWaitS ?? 0, PENDING_FILE);

  try {
    for (const h of hosts) {
      h.facts = new BatchingReader(h.transport);
      if (o.check) {
        h.overlay = new CheckModeReader(h.facts, h.node.user);
        h.facts = h.overlay;
        h.transport = new CheckModeTransport(h.transport);
      }
      const list = parsePending(pendingFiles.get(h.name) ?? null);
      h.pendingNames = list.map((p) => p.handler);
      if (!o.check) h.pending = new PendingStore(h.transport, o.pathsOf(h.node).stateDir, list);
    }
    const allHostVars = Object.fromEntries(o.inventory.nodes.map((n) => [n.name, o.toolkit.hostVars(o.inventory, n)]));
    const env: PlayEnv = {
      toolkit: o.toolkit, check: o.check, diff: o.diff ?? false, become: false, controller: o.controller, controllerFacts: new DirectReader(o.controller()), baseDirs: o.baseDirs,
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
