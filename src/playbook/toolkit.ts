// The parts the executor uses from the layers below, gathered in one object so
// the executor stays a plain function of its inputs (and a test can swap one
// part, e.g. a transport-level runner). `defaultToolkit` wires the real ones.
import type { SourcePos } from '../errors.js';
import { selectHosts } from '../inventory/select.js';
import type { Inventory, NodeSpec } from '../inventory/types.js';
import { hostVars } from '../inventory/vars.js';
import { getModule } from '../modules/index.js';
import { runCommands, type RunOutcome } from '../modules/run.js';
import type { Command, Module } from '../modules/types.js';
import { evalCondition, renderTemplate, renderValue } from '../template/render.js';
import type { Transport } from '../transport/types.js';

export interface Toolkit {
  getModule(name: string): Module;
  /** Renders every string inside `value` (objects, arrays) against vars, strictly. */
  renderValue(value: unknown, vars: Record<string, unknown>, origin?: SourcePos): unknown;
  /** when/until/changed_when/failed_when: an expression, a boolean, or a list (all must hold). */
  evalCondition(cond: string | boolean | (string | boolean)[], vars: Record<string, unknown>, origin?: SourcePos): boolean;
  /** Renders a template file or text strictly. */
  renderTemplate(source: { file?: string; text?: string }, vars: Record<string, unknown>): string;
  /** Runs a plan's commands in order, stopping at the first that fails (modules/run.ts). */
  runCommands(t: Transport, cmds: readonly Command[]): Promise<RunOutcome>;
}

/** Inventory helpers the executor needs (host patterns, per-host variables). */
export interface InventoryTools {
  selectHosts(inv: Inventory, patterns: string[]): NodeSpec[];
  hostVars(inv: Inventory, node: NodeSpec): Record<string, unknown>;
}

export function defaultToolkit(): Toolkit & InventoryTools {
  return { getModule, renderValue, evalCondition, renderTemplate, runCommands, selectHosts: (inv, p) => selectHosts(inv, p), hostVars: (inv, n) => hostVars(inv, n) };
}
