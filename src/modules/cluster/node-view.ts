// The inventory's built-in variables as cluster modules read them: `nodes`
// (every node, inventory order) and `cluster` (its settings). hostVars sets
// both after every other layer, so no play var, fact or extra var stands in
// for them; what is checked here is only that they are there at all (a task
// planned outside a play may have no inventory behind it).
import type { ClusterSpec, NodeView } from '../../inventory/types.js';
import { ModuleArgsError } from '../errors.js';

export function nodesOf(module: string, vars: Record<string, unknown>): NodeView[] {
  if (!Array.isArray(vars.nodes)) throw new ModuleArgsError(module, 'nodes', 'the inventory variable `nodes` is missing');
  return vars.nodes as NodeView[];
}

export function clusterOf(module: string, vars: Record<string, unknown>): ClusterSpec {
  const c = vars.cluster;
  if (!c || typeof c !== 'object') throw new ModuleArgsError(module, 'cluster', 'the inventory variable `cluster` is missing');
  return c as ClusterSpec;
}
