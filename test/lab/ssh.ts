// Reaching a lab host with the system ssh client, always with strict host-key
// checking against the lab's own known_hosts (real keys read from each host's
// files, never learned on first use).
import { run, type RunResult } from './exec.js';

export interface SshTarget {
  ip: string;
  user: string;
  port: number;
  identityFile: string;
}

export function sshArgv(t: SshTarget, knownHostsFile: string, command: string): string[] {
  return [
    'ssh',
    '-F', '/dev/null',
    '-i', t.identityFile,
    '-p', String(t.port),
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${knownHostsFile}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'ConnectTimeout=5',
    '-o', 'ServerAliveInterval=5',
    '-o', 'LogLevel=ERROR',
    `${t.user}@${t.ip}`,
    command,
  ];
}

/** Runs `command` (a shell line) on the host; never throws on a non-zero exit. */
export function sshRun(t: SshTarget, knownHostsFile: string, command: string, timeoutMs = 60_000): Promise<RunResult> {
  return run(sshArgv(t, knownHostsFile, command), { timeoutMs, allowFail: true });
}
