// Renders the cluster templates for one node exactly as the playbooks do:
// inventory variables over the membershipd role's defaults.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { loadInventory } from '../../src/inventory/load.js';
import { hostVars } from '../../src/inventory/vars.js';
import { renderTemplate } from '../../src/template/render.js';
import { ROOT } from '../harness/root.js';

export function roleDefaults(): Record<string, unknown> {
  return parse(readFileSync(`${ROOT}roles/unibus_node/defaults.yaml`, 'utf8')) as Record<string, unknown>;
}

export function renderForNodes(inventoryFile: string, template: string, extra: Record<string, unknown> = {}): Map<string, string> {
  const inv = loadInventory(inventoryFile);
  const out = new Map<string, string>();
  for (const node of inv.nodes) {
    const vars = { ...hostVars(inv, node, { roleDefaults: roleDefaults() }), ...extra };
    out.set(node.name, renderTemplate({ file: `${ROOT}templates/${template}` }, vars));
  }
  return out;
}

/** KEY=value lines of an environment file (comments and blank lines skipped). */
export function parseEnvFile(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 1) throw new Error(`not KEY=value: ${JSON.stringify(line)}`);
    m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}
