// The parts the executor uses from the layers below, gathered in one object so
// the executor stays a plain function of its inputs. `defaultToolkit()` wires
// the real template engine, modules and command runner.
import type { Command, Module } from '../modules/types.js';
import type { ExecResult, Transport } from '../transport/types.js';

export interface Toolkit {
  getModule(name: string): Module;
  /** Renders every string inside `value` (objects, arrays) against vars, strictly. */
  renderValue(value: unknown, vars: Record<string, unknown>, where: string): unknown;
  /** A Jinja2 expression (when/until/changed_when/failed_when) evaluated to a boolean. */
  evalCondition(expr: string, vars: Record<string, unknown>, where: string): boolean;
  /** Renders a template file or text strictly. */
  renderTemplate(source: { file?: string; text?: string }, vars: Record<string, unknown>): string;
  /** Runs one command of a module's plan (exec or upload). */
  runCommand(t: Transport, c: Command): Promise<ExecResult>;
}

import type { Inventory, NodeSpec } from '../inventory/types.js';

/** Inventory helpers the executor needs (host patterns, per-host variables). */
export interface InventoryTools {
  selectHosts(inv: Inventory, patterns: string[]): NodeSpec[];
  hostVars(inv: Inventory, node: NodeSpec): Record<string, unknown>;
}
