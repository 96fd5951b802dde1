// One append-only line per run on every host: who, when, which playbook, and
// the host's recap. A line under PIPE_BUF (4 KiB) written with O_APPEND lands
// whole even when two writers append at once.
import type { Transport } from '../transport/types.js';
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

const APPEND = 'umask 027; mkdir -p "$1" && cat >> "$1/audit.log"';

export async function appendAudit(t: Transport, logDir: string, line: AuditLine): Promise<void> {
  const r = await t.exec({
    argv: ['sh', '-c', APPEND, 'unibus-audit', logDir],
    stdin: JSON.stringify(line) + '\n',
    sudo: true,
    timeoutMs: 20_000,
  });
  if (r.code !== 0) throw new Error(`${t.host}: cannot append to ${logDir}/audit.log: ${r.stderr.trim()}`);
}

export function auditLine(lease: Lease, host: string, exit: number, recap: HostCounts): AuditLine {
  return { at: new Date().toISOString(), who: lease.owner, pid: lease.pid, playbook: lease.playbook, started: lease.started, host, exit, recap };
}
