// One task on one host: when, loop, module plan (facts -> commands), then in
// check mode the plan is the result, else the commands run. Check and apply
// walk this same function; only the last step differs.
import { checkArgs } from '../modules/define.js';
import { verdictOf } from '../modules/run.js';
import type { Command, FileDiff, ModulePlan } from '../modules/types.js';
import { ExecTimeoutError, PutError, TransportError } from '../transport/errors.js';
import type { Transport } from '../transport/types.js';
import type { HostResult, HostStatus } from './events.js';
import type { Toolkit } from './toolkit.js';
import type { Task } from './types.js';
import { sleep as waitMs } from '../util/time.js';
import type { FactReader } from '../modules/facts/types.js';
import { DirectReader } from '../modules/facts/read.js';

export interface TaskEnv {
  toolkit: Toolkit;
  check: boolean;
  /** The local transport, for delegate_to: controller. */
  controller: () => Transport;
  /** Reads on the controller, one for the whole run (modules' ctx.controller). */
  controllerFacts: FactReader;
  /** Template/copy `src` lookups: the role's folder first, then the project's. */
  baseDirs: string[];
  /** Host commands through sudo (the transport skips it when already root). */
  become: boolean;
  /** --diff: modules fetch current content to show diffs. */
  diff: boolean;
  sleep?: (ms: number) => Promise<void>;
  /** The host's fact reader (batched, or check mode's overlay); absent: facts are read straight. delegate_to: controller reads through controllerFacts. */
  facts?: FactReader;
  /**
   * Apply mode: called before the commands of a task that notifies handlers
   * run, so the notification is on the host before the change is (a run
   * killed between the two still restarts the service next time).
   */
  beforeChange?: (notify: string[]) => Promise<void>;
}

export interface TaskRun extends HostResult {
  /** What `register` stores. */
  registered: Record<string, unknown>;
  /** Handler names to notify (the task changed and did not fail). */
  notify: string[];
  /** Variables set for later tasks on this host (set_fact). */
  facts: Record<string, unknown>;
  /** Commands ran on the host: plans made before this task are stale. */
  ranCommands?: boolean;
  /** The commands planned, even under no_log (never shown): check mode's overlay applies them. */
  planned: Command[];
}

/** An error thrown while talking to the host (not by a module's own logic): the host is unreachable. */
export class HostUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HostUnreachableError';
  }
}

const MAX_RETRIES = 100;
const MAX_DELAY_S = 300;

export function conditionsHold(tk: Toolkit, task: Task, vars: Record<string, unknown>): boolean {
  return task.when === undefined || tk.evalCondition(task.when, vars, task.pos);
}

function evalFlag(tk: Toolkit, task: Task, field: 'changed_when' | 'failed_when', vars: Record<string, unknown>): boolean {
  return tk.evalCondition(task[field]!, vars, task.pos);
}

interface ItemRun {
  status: HostStatus;
  reason: string;
  commands: Command[];
  diff: FileDiff[];
  registered: Record<string, unknown>;
  facts?: Record<string, unknown>;
  attempts: number;
  /** Commands were run on the host (apply): what later tasks see may have changed. */
  ran?: boolean;
  report?: boolean;
}

function tail(s: string): string {
  const t = s.trim();
  return t.length > 400 ? '…' + t.slice(-400) : t;
}

function untilHolds(tk: Toolkit, task: Task, vars: Record<string, unknown>, failed: boolean): boolean {
  try {
    return tk.evalCondition(task.until!, vars, task.pos) && !failed;
  } catch (e) {
    if (failed) return false;
    throw e;
  }
}

/**
 * Renders the task's args, checks them against the module's schema (what a
 * template rendered to was not seen at load), and asks the module for a plan
 * (facts -> commands). Read-only on the host.
 */
export function planTask(task: Task, vars: Record<string, unknown>, env: TaskEnv, transport: Transport, host: string, check: boolean): Promise<ModulePlan> {
  const tk = env.toolkit;
  const mod = tk.getModule(task.module);
  const args = checkArgs(mod, tk.renderValue(task.args, vars, task.pos));
  const facts = task.delegate_to === 'controller' ? env.controllerFacts : (env.facts ?? new DirectReader(transport));
  const ctx = {
    transport, facts, controller: env.controllerFacts, vars, check, baseDirs: env.baseDirs, render: tk.renderTemplate, host, become: env.become, diff: env.diff,
    evaluate: (expr: string, v: Record<string, unknown>) => tk.evalCondition(expr, v, task.pos),
  };
  return mod.plan(args, ctx);
}

async function runItem(task: Task, vars: Record<string, unknown>, env: TaskEnv, hostTransport: Transport, host: string, prefetched?: Promise<ModulePlan>): Promise<ItemRun> {
  const tk = env.toolkit;
  if (!conditionsHold(tk, task, vars)) return { status: 'skipped', reason: 'condition false (when)', commands: [], diff: [], registered: { skipped: true, changed: false }, attempts: 0 };
  if (env.check && task.check_mode === false) {
    return { status: 'skipped', reason: 'check_mode: false (skipped in check mode)', commands: [], diff: [], registered: { skipped: true, changed: false }, attempts: 0 };
  }
  // check_mode: true means the task only ever plans, even in an apply run.
  const check = env.check || task.check_mode === true;
  const transport = task.delegate_to === 'controller' ? env.controller() : hostTransport;
  const retries = Math.min(task.until ? (task.retries ?? 3) : 0, MAX_RETRIES);
  const delayMs = Math.min(task.delay ?? 5, MAX_DELAY_S) * 1000;
  const sleep = env.sleep ?? waitMs;
  let ran = false;
  for (let attempt = 1; ; attempt++) {
    let plan: ModulePlan;
    try {
      plan = await (attempt === 1 && prefetched ? prefetched : planTask(task, vars, env, transport, host, check));
    } catch (e) {
      throw classify(e);
    }
    let failed = plan.failed === true;
    let reason = plan.reason;
    let result: Record<string, unknown> = { ...plan.result, changed: plan.changed };
    if (check) {
      result.check_mode = true;
    } else if (plan.commands.length && !failed) {
      if (task.notify.length && plan.changed) await env.beforeChange?.(task.notify);
      let out;
      ran = true;
      try {
        out = await tk.runCommands(transport, plan.commands);
      } catch (e) {
        throw classify(e);
      }
      const last = out.last ?? { code: 0, stdout: '', stderr: '' };
      result = { ...result, rc: last.code, stdout: last.stdout, stderr: last.stderr, stdout_lines: last.stdout.split('\n').filter(Boolean) };
      if (out.error) {
        failed = true;
        reason = `command failed (rc=${last.code}): ${tail(last.stderr) || tail(last.stdout)}`;
      } else {
        const verdict = verdictOf(plan.commands, out.last);
        if (verdict) {
          reason = verdict.reason;
          failed = verdict.failed === true;
          result = { ...result, ...verdict.result };
        }
      }
    }
    const withResult = task.register ? { ...vars, [task.register]: result } : vars;
    if (task.changed_when !== undefined) {
      // In check mode a command's output does not exist yet: a changed_when that
      // needs it cannot be evaluated, and the module's own prediction stands.
      try {
        result.changed = evalFlag(tk, task, 'changed_when', withResult);
      } catch (e) {
        if (!check) throw e;
      }
    }
    if (task.failed_when !== undefined && !check) {
      failed = evalFlag(tk, task, 'failed_when', withResult);
      if (failed) reason = `failed_when: ${String(task.failed_when)}`;
    }
    result.failed = failed;
    // As in Ansible, until retries a failing attempt too (`until: r is succeeded`);
    // an until that cannot be evaluated on a failed result counts as not yet.
    if (!check && task.until && !untilHolds(tk, task, withResult, failed)) {
      if (attempt <= retries) {
        await sleep(delayMs);
        continue;
      }
      if (!failed) reason = `until: ${task.until} still false after ${attempt} attempts`;
      else reason = `${reason} (after ${attempt} attempts)`;
      failed = true;
      result.failed = true;
    }
    const status: HostStatus = failed ? 'failed' : result.changed ? 'changed' : 'ok';
    return { status, reason, commands: plan.commands, diff: plan.diff ?? [], registered: result, facts: plan.facts, attempts: attempt, ran, report: plan.report };
  }
}

/** Connection-level transport errors make the host unreachable; a command's timeout or a failed put is a task failure. */
function classify(e: unknown): unknown {
  if (e instanceof TransportError && !(e instanceof ExecTimeoutError) && !(e instanceof PutError)) {
    return new HostUnreachableError(e.message, { cause: e });
  }
  return e;
}

/** Runs `task` on one host with `vars`; errors from the host's connection become HostUnreachableError. */
export async function runTask(task: Task, vars: Record<string, unknown>, env: TaskEnv, transport: Transport, host: string, prefetched?: Promise<ModulePlan>): Promise<TaskRun> {
  let runs: (ItemRun & { item?: unknown })[];
  let isLoop = false;
  try {
    if (task.loop !== undefined) {
      isLoop = true;
      const items = env.toolkit.renderValue(task.loop, vars, task.pos);
      if (!Array.isArray(items)) throw new Error(`${task.pos.file}:${task.pos.line}:${task.pos.col}: loop: expected a list, got ${typeof items}`);
      runs = [];
      for (const item of items) {
        const r = await runItem(task, { ...vars, item }, env, transport, host);
        runs.push({ ...r, item });
        if (r.status === 'failed') break;
      }
    } else {
      runs = [await runItem(task, vars, env, transport, host, prefetched)];
    }
  } catch (e) {
    if (e instanceof HostUnreachableError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    return finish(task, host, [{ status: 'failed', reason: msg, commands: [], diff: [], registered: { failed: true, msg }, attempts: 1, ran: !env.check }], false);
  }
  return finish(task, host, runs, isLoop);
}

function finish(task: Task, host: string, runs: (ItemRun & { item?: unknown })[], isLoop: boolean): TaskRun {
  const statuses = runs.map((r) => r.status);
  const status: HostStatus = statuses.includes('failed')
    ? 'failed'
    : statuses.includes('changed')
      ? 'changed'
      : runs.length > 0 && statuses.every((s) => s === 'skipped')
        ? 'skipped'
        : runs.length === 0 ? 'skipped' : 'ok';
  const changedRuns = runs.filter((r) => r.status === 'changed' || r.status === 'failed');
  const reason = !isLoop ? runs[0]!.reason : runs.length === 0 ? 'empty loop' : (changedRuns[0] ?? runs[0]!).reason;
  const registered = isLoop
    ? { results: runs.map((r) => ({ ...r.registered, item: r.item })), changed: status === 'changed', failed: status === 'failed', skipped: status === 'skipped' }
    : runs[0]!.registered;
  const hide = task.no_log;
  return {
    host,
    status,
    reason: hide && status === 'failed' ? 'failed (output hidden: no_log)' : hide ? status : reason,
    commands: hide ? [] : runs.flatMap((r) => r.commands),
    diff: hide ? [] : runs.flatMap((r) => r.diff),
    noLog: hide,
    items: isLoop ? runs.map((r) => ({ item: hide ? '(hidden)' : r.item, status: r.status, reason: hide ? r.status : r.reason })) : undefined,
    attempts: Math.max(...runs.map((r) => r.attempts), 0) || undefined,
    report: (!hide && runs.some((r) => r.report)) || undefined,
    registered,
    notify: status === 'changed' ? task.notify : [],
    facts: Object.assign({}, ...runs.map((r) => r.facts ?? {})),
    ranCommands: runs.some((r) => r.ran),
    planned: runs.filter((r) => r.status === 'changed').flatMap((r) => r.commands),
  };
}
