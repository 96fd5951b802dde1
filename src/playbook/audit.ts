// One append-only line per run on every host: who, when, which playbook, and
// the host's recap. It is appended (`cat >>`, O_APPEND) by the script that
// releases the lease (lock.ts): a line under PIPE_BUF (4 KiB) lands whole even
// when two writers append at once.
import type { HostCounts } from './events.js';
import type { Lease } from './lock.js';

export interface AuditLine {
  at: string;
  who: string;
  pid: number;
  playbook: string;
  started: string;
  host: string;
  exit: number;
  recap: HostCounts;
}

export function auditLine(lease: Lease, host: string, exit: number, recap: HostCounts): AuditLine {
  return { at: new Date().toISOString(), who: lease.owner, pid: lease.pid, playbook: lease.playbook, started: lease.started, host, exit, recap };
}
