/**
 * Task modules: facts -> diff -> commands.
 *
 * How the executor uses them (check and apply walk the same path):
 *
 *   const mod = getModule(task.module);           // UnknownModuleError if none
 *   // ajv checks task.args against mod.argsSchema at load (with positions), and
 *   // the rendered args again with the same validator (checkArgs, define.ts)
 *   const plan = await mod.plan(checkArgs(mod, renderedArgs), ctx); // only read-only fact commands run here
 *   if (plan.failed)  -> the task failed, plan.reason says why
 *   if (!plan.changed) -> ok, plan.reason says why nothing is needed ("up to date")
 *   check mode: print plan.commands with describeCommand (print.ts) and
 *               plan.diff with formatFileDiff when --diff; run nothing.
 *   apply:      const out = await runCommands(ctx.transport, plan.commands)  (run.ts)
 *               out.error set -> task failed (CommandFailedError names host, command, rc)
 *               register = { changed, ...plan.result, rc/stdout/stderr of out.last }
 *                 (command, shell, wait_for: the command's own output is the result;
 *                  a step with a verdict: its verdict's reason, failure and result)
 *   plan.facts (set_fact) -> merge into the host's vars.
 *   A plan may carry commands with changed=false: housekeeping that alters no
 *   state (service's daemon-reload alone, wait_for's poll). Apply runs them;
 *   check mode does not; neither counts them as a change.
 *
 * ModuleContext: transport (ssh/local/fake; delegate_to controller gets the
 * local transport), vars, check, baseDirs (role folder first, then the
 * playbook folder: template looks in <base>/templates, copy in <base>/files),
 * render (strict template engine), host, become (sudo -n for every host
 * command; skipped by the transport when already root), diff (fetch old
 * content for --diff), evaluate (expressions for assert).
 *
 * Secrets: a Secret in `content` or `stdin` never leaves the Command except
 * through the transport's stdin; describeCommand shows a fingerprint.
 */
import { UnibusError } from '../errors.js';
import { assert } from './assert.js';
import { command, shell } from './command.js';
import { copy } from './copy.js';
import { file } from './file.js';
import { pkg } from './package.js';
import { service } from './service.js';
import { set_fact } from './set_fact.js';
import { template } from './template.js';
import { wait_for } from './wait_for.js';
import type { Module } from './types.js';
import { CLUSTER_MODULES } from './cluster/index.js';

export { runCommand, runCommands, isCommandOk, CommandFailedError, type RunOutcome } from './run.js';
export { describeCommand, formatFileDiff, fingerprintOf } from './print.js';
export type { Command, FileDiff, Module, ModuleContext, ModulePlan } from './types.js';

const MODULES: readonly Module[] = [copy, template, file, command, shell, pkg, service, wait_for, assert, set_fact, ...CLUSTER_MODULES];

const byName = new Map<string, Module>(MODULES.map((m) => [m.name, m]));

/** Every module name, for the playbook schema and error messages. */
export const moduleNames: readonly string[] = MODULES.map((m) => m.name);

export class UnknownModuleError extends UnibusError {
  constructor(readonly module: string) {
    super(`unknown module ${JSON.stringify(module)} (expected one of ${moduleNames.join(', ')})`);
  }
}

export function getModule(name: string): Module {
  const m = byName.get(name);
  if (!m) throw new UnknownModuleError(name);
  return m;
}

export function hasModule(name: string): boolean {
  return byName.has(name);
}
