// PLAY RECAP: per-host counts, and the exit code they map to.
import { emptyCounts, type HostCounts, type HostStatus } from './events.js';

/** Exit codes of `unibus play`, modelled on ansible-playbook's. */
export const EXIT = {
  ok: 0,
  /** A host failed a task. */
  failed: 2,
  /** A host could not be reached (connection refused, host key refused). */
  unreachable: 3,
  /** Bad input: inventory, playbook, template, arguments. */
  badInput: 4,
  /** Another run holds the deploy lock on a host. */
  lockHeld: 5,
  /** Interrupted (SIGINT): leases released, pending handlers recorded. */
  interrupted: 130,
} as const;

export class Recap {
  readonly hosts = new Map<string, HostCounts>();

  constructor(hosts: string[]) {
    for (const h of hosts) this.hosts.set(h, emptyCounts());
  }

  count(host: string, status: HostStatus): void {
    let c = this.hosts.get(host);
    if (!c) this.hosts.set(host, (c = emptyCounts()));
    c[status === 'ok' ? 'ok' : status] += 1;
    // Ansible counts a changed task in `ok` too; we keep them apart so that
    // ok + changed + skipped + failed is the number of task results.
  }

  toJSON(): Record<string, HostCounts> {
    return Object.fromEntries([...this.hosts].map(([h, c]) => [h, { ...c }]));
  }

  /** 3 when any host was unreachable, else 2 when any failed, else 0. */
  exitCode(): number {
    const all = [...this.hosts.values()];
    if (all.some((c) => c.unreachable > 0)) return EXIT.unreachable;
    if (all.some((c) => c.failed > 0)) return EXIT.failed;
    return EXIT.ok;
  }
}
