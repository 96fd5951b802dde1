// What a run reports while it goes. The executor emits these; the CLI's printers
// (plain lines, TTY progress, JSON lines) are the only place they are shown.
import type { Command, FileDiff } from '../modules/types.js';

export type HostStatus = 'ok' | 'changed' | 'skipped' | 'failed' | 'unreachable';

/** Counts per host, as PLAY RECAP shows them. */
export interface HostCounts {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unreachable: number;
}

/** What one task did (or, in check mode, would do) on one host. */
export interface HostResult {
  host: string;
  status: HostStatus;
  /** Why: the module's reason, the failing condition, the error. */
  reason: string;
  /** Commands run (apply) or planned (check); empty when no_log hides them. */
  commands: Command[];
  diff: FileDiff[];
  /** True when the task asked for no_log: args, commands and results are hidden. */
  noLog: boolean;
  /** Per loop item, when the task had a loop. */
  items?: { item: unknown; status: HostStatus; reason: string }[];
  /** For run_once tasks: the result also applies to these hosts. */
  delegatedFor?: string[];
  /** How many attempts an until/retries task took. */
  attempts?: number;
  /** The module's reason is a report: printed even for an ok task without -v. */
  report?: boolean;
}

export type RunEvent =
  | { event: 'run_start'; playbook: string; check: boolean; hosts: string[] }
  | { event: 'play_start'; play: string; hosts: string[]; batch?: number; batches?: number }
  | { event: 'task_start'; play: string; task: string; role?: string; hosts: string[] }
  | { event: 'host_start'; task: string; host: string }
  | ({ event: 'host_result'; task: string; handler: boolean; check: boolean } & HostResult)
  | { event: 'handler'; play: string; handler: string; hosts: string[] }
  | { event: 'warning'; host?: string; message: string }
  | { event: 'recap'; check: boolean; hosts: Record<string, HostCounts> };

export type Emit = (ev: RunEvent) => void;

export function emptyCounts(): HostCounts {
  return { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0 };
}
