// One play: hosts in serial batches; in each batch every task in order across
// the batch's hosts in parallel (capped by forks), then the notified handlers.
import { mapLimit } from '../util/process.js';
import type { NodeSpec } from '../inventory/types.js';
import type { Transport } from '../transport/types.js';
import type { Emit, HostStatus } from './events.js';
import type { FactReader } from '../modules/facts/types.js';
import type { CheckModeReader } from './facts-check.js';
import { Lookahead } from './execute-lookahead.js';
import { conditionsHold, HostUnreachableError, planTask, runTask, type TaskEnv, type TaskRun } from './execute-task.js';
import { handlerNames, handlersFor, type PendingStore } from './handlers.js';
import type { Recap } from './recap.js';
import { isTaskSelected, type TagFilter } from './tags.js';
import type { Play, Task } from './types.js';
import { markLazy } from '../template/render.js';
import { BUILTIN_VARS } from '../inventory/vars.js';

export interface HostState {
  name: string;
  node: NodeSpec;
  transport: Transport;
  /** Inventory variables of the host (before play vars). */
  baseVars: Record<string, unknown>;
  /** Variables of the current play (base + play vars), set at play start. */
  vars: Record<string, unknown>;
  registered: Record<string, unknown>;
  status: 'active' | 'failed' | 'unreachable';
  /** Host commands through sudo when the connecting user is not root. */
  become: boolean;
  /** Handler names notified on this host and not yet run (this play). */
  notified: Set<string>;
  /** Apply mode only: the host's persisted pending-handler list. */
  pending?: PendingStore;
  /** Handler names pending from earlier runs (read at start, check and apply). */
  pendingNames: string[];
  /** Plans made ahead for this play's tasks (see execute-lookahead.ts). */
  lookahead?: Lookahead;
  /** Reads the host's facts (batched; in check mode, the overlay). Absent: read straight from the transport. */
  facts?: FactReader;
  /** Check mode: the host's facts as the changes planned so far would leave them (facts is this overlay then). */
  overlay?: CheckModeReader;
  /** While a looped include_tasks runs: its loop variable, bound to this host's current item. */
  loopVars?: Record<string, unknown>;
}

export interface PlayEnv extends TaskEnv, TagFilter {
  forks: number;
  playbook: string;
  extraVars: Record<string, unknown>;
  emit: Emit;
  recap: Recap;
  signal?: AbortSignal;
  allHostVars: Record<string, Record<string, unknown>>;
  /** The play being run (for events). */
  playName: string;
  /** The play's any_errors_fatal: one host's failure ends the play for every host. */
  anyErrorsFatal?: boolean;
  /** Set once any_errors_fatal ended the play. */
  fatal?: boolean;
}

export function batchesOf<T>(hosts: T[], serial: number | string | undefined): T[][] {
  if (serial === undefined || hosts.length === 0) return [hosts];
  let size = typeof serial === 'number' ? serial : /^\d+%$/.test(serial) ? Math.ceil((hosts.length * parseInt(serial, 10)) / 100) : parseInt(serial, 10);
  if (!Number.isFinite(size) || size < 1) size = 1;
  const out: T[][] = [];
  for (let i = 0; i < hosts.length; i += size) out.push(hosts.slice(i, i + size));
  return out;
}

function taskVars(h: HostState, env: PlayEnv, batch: HostState[]): Record<string, unknown> {
  return {
    ...h.vars,
    ...h.registered,
    ...h.loopVars,
    inventory_hostname: h.name,
    play_hosts: batch.map((b) => b.name),
    hostvars: env.allHostVars,
    unibus_check_mode: env.check,
    // Ansible's magic variable, under its own name: playbooks written for Ansible test it.
    ansible_check_mode: env.check,
    ...env.extraVars,
  };
}

function record(env: PlayEnv, task: Task, r: TaskRun, handler: boolean, counted = true): void {
  const { registered: _r, notify: _n, facts: _f, planned: _p, ranCommands: _c, ...shown } = r;
  env.emit({ event: 'host_result', task: task.name, handler, check: env.check, ...shown });
  if (counted) env.recap.count(r.host, r.status);
}

function taskEnv(task: Task, h: HostState, env: PlayEnv): TaskEnv {
  const baseDirs = task.roleDir ? [task.roleDir, ...env.baseDirs] : env.baseDirs;
  const beforeChange = async (names: string[]) => h.pending?.add(names, env.playbook);
  return { ...env, baseDirs, become: h.become, beforeChange, facts: h.facts };
}

/** The lookahead's planner for host h: the same planTask the task itself would call. */
function planAhead(h: HostState, env: PlayEnv, batch: HostState[]) {
  return (t: Task) => {
    const vars = taskVars(h, env, batch);
    if (!conditionsHold(env.toolkit, t, vars)) return null;
    if (env.check && t.check_mode === false) return null;
    return planTask(t, vars, taskEnv(t, h, env), h.transport, h.name, env.check || t.check_mode === true);
  };
}

async function runOnHosts(task: Task, hosts: HostState[], batch: HostState[], env: PlayEnv, handler: boolean, index = -1): Promise<void> {
  const live = hosts.filter((h) => h.status === 'active');
  if (!live.length) return;
  if (!handler) env.emit({ event: 'task_start', play: env.playName, task: task.name, role: task.role, hosts: live.map((h) => h.name) });
  const targets = task.run_once ? [live[0]!] : live;
  await mapLimit(targets, env.forks, async (h) => {
    if (env.signal?.aborted) return;
    env.emit({ event: 'host_start', task: task.name, host: h.name });
    let r: TaskRun;
    try {
      const ahead = index >= 0 && h.lookahead ? h.lookahead.planFor(index, planAhead(h, env, batch)) : undefined;
      r = await runTask(task, taskVars(h, env, batch), taskEnv(task, h, env), h.transport, h.name, ahead);
    } catch (e) {
      if (!(e instanceof HostUnreachableError)) throw e;
      h.status = 'unreachable';
      record(env, task, { host: h.name, status: 'unreachable', reason: e.message, commands: [], diff: [], noLog: false, registered: {}, notify: [], facts: {}, planned: [] }, handler);
      return;
    }
    if (r.ranCommands) h.lookahead?.invalidate();
    if (h.overlay && r.status === 'changed' && r.planned.length) {
      // Check mode: later tasks on this host see what this one would have changed.
      await h.overlay.record(r.planned);
      h.lookahead?.invalidate();
    }
    if (task.run_once) r.delegatedFor = live.slice(1).map((x) => x.name);
    record(env, task, r, handler);
    const sharers = task.run_once ? live : [h];
    if (task.register) for (const s of sharers) s.registered[task.register] = r.registered;
    Object.assign(h.registered, r.facts);
    // As in Ansible, a failed run_once task fails every host it ran for: none
    // goes on to tasks that assumed it worked. The recap counts the one failure.
    if (r.status === 'failed') for (const s of sharers) s.status = 'failed';
    if (r.notify.length) {
      for (const n of r.notify) h.notified.add(n);
      await h.pending?.add(r.notify, env.playbook);
    } else if (r.status === 'ok' && task.notify.length && !handler) {
      // Recorded before the commands ran, but the task turned out unchanged (changed_when).
      await h.pending?.remove(task.notify.filter((n) => !h.notified.has(n)));
    }
  });
  endIfFatal(task, live, batch, env);
}

/**
 * any_errors_fatal, as Ansible runs it: once a task failed (or found its host
 * unreachable) on any host, every host of the batch that is still going ends
 * there too, and the play runs no further task, handler or batch. Without it
 * only the failed host drops out: a chaos run went on for 20 min without
 * one node, its faults recorded against that node and never made.
 */
function endIfFatal(task: Task, live: HostState[], batch: HostState[], env: PlayEnv): void {
  if (!env.anyErrorsFatal) return;
  const failed = live.filter((h) => h.status !== 'active');
  if (!failed.length) return;
  env.fatal = true;
  const why = `any_errors_fatal: ${failed.map((h) => h.name).join(', ')} failed "${task.name}"; the play ends for every host`;
  for (const h of batch) {
    if (h.status !== 'active') continue;
    h.status = 'failed';
    record(env, task, { ...emptyRun(h.name), status: 'failed', reason: why }, false, false);
  }
}

/**
 * include_tasks, as Ansible runs it, on `hosts` (of `batch`): without a loop
 * the file is included once per host; with one, the loop is rendered per host
 * and, for the i-th item, the file's tasks run on the hosts that have an i-th
 * item. The include's `when` is judged per host (per item, with the item
 * bound) before the tasks run, and only the hosts for which it held run them,
 * in step as any task does. A host whose loop is not a list fails there.
 * Includes nest: an inner loop's variable is bound beside the outer one's.
 */
async function runInclude(task: Task, inc: NonNullable<Task['include']>, hosts: HostState[], batch: HostState[], env: PlayEnv): Promise<void> {
  const live = hosts.filter((h) => h.status === 'active');
  if (!live.length) return;
  env.emit({ event: 'task_start', play: env.playName, task: task.name, role: task.role, hosts: live.map((h) => h.name) });
  const items = new Map<HostState, unknown[]>();
  for (const h of live) {
    let list: unknown;
    try {
      list = inc.loopVar === undefined ? [undefined] : env.toolkit.renderValue(task.loop, taskVars(h, env, batch), task.pos);
      if (!Array.isArray(list)) throw new Error(`${task.pos.file}:${task.pos.line}:${task.pos.col}: loop: expected a list, got ${typeof list}`);
    } catch (e) {
      h.status = 'failed';
      record(env, task, { ...emptyRun(h.name), status: 'failed', reason: (e as Error).message }, false);
      continue;
    }
    items.set(h, list);
    if (inc.loopVar !== undefined) record(env, task, { ...emptyRun(h.name), reason: `included ${inc.file}: ${list.length} item${list.length === 1 ? '' : 's'}` }, false, false);
  }
  endIfFatal(task, live, batch, env);
  const children = inc.tasks.filter((t) => isTaskSelected(t, env));
  const rounds = Math.max(0, ...[...items.values()].map((l) => l.length));
  const outer = new Map([...items.keys()].map((h) => [h, h.loopVars]));
  try {
    for (let i = 0; i < rounds; i++) {
      const included: HostState[] = [];
      for (const [h, list] of items) {
        if (h.status !== 'active' || i >= list.length) continue;
        if (inc.loopVar !== undefined) h.loopVars = { ...outer.get(h), [inc.loopVar]: list[i] };
        try {
          if (conditionsHold(env.toolkit, task, taskVars(h, env, batch))) included.push(h);
        } catch (e) {
          h.status = 'failed';
          record(env, task, { ...emptyRun(h.name), status: 'failed', reason: (e as Error).message }, false);
        }
      }
      if (i === 0 && inc.loopVar === undefined) {
        for (const h of items.keys()) if (h.status === 'active') record(env, task, { ...emptyRun(h.name), ...(included.includes(h) ? { reason: `included ${inc.file}` } : { status: 'skipped' as const, reason: 'condition false (when)' }) }, false, false);
      }
      endIfFatal(task, live, batch, env);
      for (const child of children) {
        if (env.signal?.aborted || env.fatal) return;
        if (child.include) await runInclude(child, child.include, included, batch, env);
        else await runOnHosts(child, included, batch, env, false);
      }
    }
  } finally {
    for (const [h, v] of outer) {
      if (v === undefined) delete h.loopVars;
      else h.loopVars = v;
    }
  }
}

function emptyRun(host: string): TaskRun {
  return { host, status: 'ok', reason: '', commands: [], diff: [], noLog: false, registered: {}, notify: [], facts: {}, planned: [] };
}

async function runHandlers(play: Play, batch: HostState[], env: PlayEnv): Promise<void> {
  for (const handler of play.handlers) {
    const names = handlerNames(handler);
    const hosts = batch.filter((h) => h.status === 'active' && names.some((n) => h.notified.has(n)));
    if (!hosts.length || env.signal?.aborted) continue;
    env.emit({ event: 'handler', play: play.name, handler: handler.name, hosts: hosts.map((h) => h.name) });
    await runOnHosts({ ...handler, run_once: false }, hosts, batch, env, true);
    await Promise.all(
      hosts.map(async (h) => {
        if (h.status !== 'active') return;
        for (const n of names) h.notified.delete(n);
        h.pendingNames = h.pendingNames.filter((n) => !names.includes(n));
        await h.pending?.remove(names);
      }),
    );
  }
}

/** Renders play vars in order per host, so a var may use the ones before it. */
function resolvePlayVars(play: Play, h: HostState, env: PlayEnv): Record<string, unknown> {
  // Role defaults are the lowest precedence; the inventory's built-ins (in baseVars) win over them.
  const vars: Record<string, unknown> = { ...play.roleDefaults, ...h.baseVars };
  // Role defaults and inventory vars holding templates are rendered when used (render.ts markLazy), as in Ansible.
  const builtin = new Set(BUILTIN_VARS);
  markLazy(vars, [...Object.keys(play.roleDefaults ?? {}), ...Object.keys(h.node.vars)].filter((k) => !builtin.has(k)));
  for (const [k, v] of Object.entries(play.vars)) {
    vars[k] = env.toolkit.renderValue(v, { ...vars, ...env.extraVars, inventory_hostname: h.name }, play.pos);
  }
  return vars;
}

/** Returns false when a batch failed and the run must stop (serial semantics). */
export async function runPlay(play: Play, hosts: HostState[], env: PlayEnv): Promise<boolean> {
  const batches = batchesOf(hosts, play.serial);
  const tasks = play.tasks.filter((t) => isTaskSelected(t, env));
  env.playName = play.name;
  env.anyErrorsFatal = play.any_errors_fatal === true;
  env.fatal = false;
  for (const [i, batch] of batches.entries()) {
    env.emit({ event: 'play_start', play: play.name, hosts: batch.map((h) => h.name), ...(batches.length > 1 ? { batch: i + 1, batches: batches.length } : {}) });
    for (const h of batch) {
      h.notified = new Set(handlersFor(play.handlers, h.pendingNames).flatMap((x) => handlerNames(x)).filter((n) => h.pendingNames.includes(n)));
      try {
        h.vars = resolvePlayVars(play, h, env);
      } catch (e) {
        h.status = 'failed';
        record(env, { name: 'play vars' } as Task, { host: h.name, status: 'failed', reason: (e as Error).message, commands: [], diff: [], noLog: false, registered: {}, notify: [], facts: {}, planned: [] }, false);
      }
    }
    for (const h of batch) h.lookahead = new Lookahead(tasks);
    for (const [index, task] of tasks.entries()) {
      if (env.signal?.aborted) return false;
      if (task.include) await runInclude(task, task.include, batch, batch, env);
      else await runOnHosts(task, batch, batch, env, false, index);
      if (!batch.some((h) => h.status === 'active')) break;
    }
    if (env.signal?.aborted || env.fatal) return false;
    await runHandlers(play, batch, env);
    const batchFailed = batch.some((h) => h.status !== 'active');
    if (batchFailed && play.serial !== undefined) return false;
  }
  return true;
}

export type { HostStatus };
