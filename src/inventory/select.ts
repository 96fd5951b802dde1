// Host selection for plays and --limit, Ansible-style.
//
// Public API:
//   selectHosts(inv, patterns, limit?) -> NodeSpec[] in inventory order
//     patterns: 'all', a role name, a node name, '!name' or '!role' to exclude,
//     as a list or a comma/colon-separated string ('all:!n3', 'n1,n2').
//     limit narrows the result the same way (--limit). An unknown name is a
//     HostPatternError: a typo must not silently select nothing.
import { UnibusError } from '../errors.js';
import type { Inventory, NodeSpec } from './types.js';

export class HostPatternError extends UnibusError {}

export function selectHosts(inv: Inventory, patterns: string | string[], limit?: string | string[]): NodeSpec[] {
  let chosen = match(inv, patterns);
  if (limit !== undefined && splitPatterns(limit).length) {
    const allowed = new Set(match(inv, limit).map((n) => n.name));
    chosen = chosen.filter((n) => allowed.has(n.name));
  }
  return inv.nodes.filter((n) => chosen.includes(n));
}

function splitPatterns(p: string | string[]): string[] {
  return (Array.isArray(p) ? p : [p])
    .flatMap((x) => x.split(/[,:]/))
    .map((x) => x.trim())
    .filter(Boolean);
}

function match(inv: Inventory, patterns: string | string[]): NodeSpec[] {
  const list = splitPatterns(patterns);
  const include = list.filter((p) => !p.startsWith('!'));
  const exclude = list.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
  const picked = new Set<NodeSpec>();
  // Only exclusions ('!n3') means "everything but": the Ansible reading of 'all:!n3' without 'all'.
  for (const p of include.length ? include : ['all']) for (const n of resolve(inv, p)) picked.add(n);
  for (const p of exclude) for (const n of resolve(inv, p)) picked.delete(n);
  return [...picked];
}

function resolve(inv: Inventory, pattern: string): NodeSpec[] {
  if (pattern === 'all' || pattern === '*') return inv.nodes;
  const byName = inv.nodes.filter((n) => n.name === pattern);
  if (byName.length) return byName;
  const byRole = inv.nodes.filter((n) => n.role === pattern);
  if (byRole.length) return byRole;
  const roles = [...new Set(inv.nodes.map((n) => n.role))];
  throw new HostPatternError(
    `host pattern '${pattern}' matches no node or role in ${inv.file} (nodes: ${inv.nodes.map((n) => n.name).join(', ')}; roles: ${roles.join(', ')}; or 'all')`,
  );
}
