// Loads and validates inventory.yaml.
//
// Public API:
//   loadInventory(file, text?) -> Inventory
//     Throws ConfigErrors listing every problem, each as `file:line:col: path:
//     problem (expected ...)`. Non-fatal findings (even node count, kv_replicas 2)
//     land in Inventory.warnings.
//   See select.ts (selectHosts) and vars.ts (hostVars) for using it.
import { resolve } from 'node:path';
import type { SourcePos } from '../errors.js';
import { formatPath, posAt, readYamlSource, throwIfErrors, type YamlSource } from '../yaml/source.js';
import { compileSchema, findPlaceholders, validateSource } from '../yaml/validate.js';
import { checkNodes } from './checks.js';
import { DEFAULT_STATE_DIR, inventorySchema, NODE_FIELD_DEFAULTS } from './schema.js';
import type { ClusterSpec, Inventory, NodeSpec } from './types.js';
import { isSecretName } from './vars.js';
import { DEFAULT_NATS_SERVER } from './nats-releases.js';

const validate = compileSchema(inventorySchema);

type RawNode = Partial<NodeSpec> & { name: string; public_ip: string };
interface RawInventory {
  cluster: ClusterSpec;
  defaults?: Partial<NodeSpec>;
  nodes: RawNode[];
}

export function loadInventory(file: string, text?: string): Inventory {
  const path = resolve(file);
  const src = readYamlSource(path, text);
  // Placeholders first: a '<HOST>' in public_ip is better reported as a placeholder than as a bad address.
  const placeholders = findPlaceholders(src);
  const schemaErrors = validateSource(src, validate);
  const placeheld = new Set(placeholders.map((e) => e.path));
  throwIfErrors([...placeholders, ...schemaErrors.filter((e) => !placeheld.has(e.path))]);

  const raw = src.data as RawInventory;
  const defaults = raw.defaults ?? {};
  const cluster: ClusterSpec = { ...raw.cluster };
  cluster.state_dir ??= DEFAULT_STATE_DIR;
  // A bundled nats-server without a version is the newest one the project has tested.
  const ns = cluster.nats_server ?? { source: 'bundled' };
  cluster.nats_server = { ...ns, ...(ns.source === 'bundled' && !ns.version ? { version: DEFAULT_NATS_SERVER } : {}) };
  const nodes = raw.nodes.map((n) => buildNode(n, defaults));
  const { errors, warnings } = checkNodes(src, cluster, nodes);
  throwIfErrors(errors);
  warnings.push(...findLiteralSecrets(src, raw));

  const positions = new Map<string, SourcePos>();
  nodes.forEach((n, i) => positions.set(n.name, posAt(src, ['nodes', i])));
  return { file: path, cluster, defaults: defaults as Record<string, unknown>, nodes, positions, warnings };
}

function buildNode(n: RawNode, d: Partial<NodeSpec>): NodeSpec {
  const node: NodeSpec = {
    name: n.name,
    host: n.host ?? n.public_ip,
    user: n.user ?? d.user ?? NODE_FIELD_DEFAULTS.user,
    port: n.port ?? d.port ?? NODE_FIELD_DEFAULTS.port,
    public_ip: n.public_ip,
    role: n.role ?? d.role ?? NODE_FIELD_DEFAULTS.role,
    connection: n.connection ?? d.connection ?? NODE_FIELD_DEFAULTS.connection,
    service_manager: n.service_manager ?? d.service_manager ?? NODE_FIELD_DEFAULTS.service_manager,
    // Default vars under node vars: a node overrides what the defaults say.
    vars: { ...(d.vars ?? {}), ...(n.vars ?? {}) },
  };
  const identity = n.identity_file ?? d.identity_file;
  if (identity !== undefined) node.identity_file = identity;
  if (n.wg_ip !== undefined) node.wg_ip = n.wg_ip;
  return node;
}

/**
 * A secret written into inventory.yaml ends up in git. Not an error (a lab may
 * do it on purpose) but worth a warning: secrets belong in secrets/ files.
 * Paths (a key file's location) and templated values are fine.
 */
function findLiteralSecrets(src: YamlSource, raw: RawInventory): string[] {
  const out: string[] = [];
  const scan = (vars: Record<string, unknown> | undefined, path: (string | number)[]) => {
    for (const [k, v] of Object.entries(vars ?? {})) {
      if (!isSecretName(k) || typeof v !== 'string' || !v || /^[/~.]|\{\{/.test(v)) continue;
      const p = posAt(src, [...path, k]);
      out.push(`${p.file}:${p.line}:${p.col}: ${formatPath([...path, k])} looks like a secret written in clear; keep it in a file under secrets/ (gitignored)`);
    }
  };
  scan(raw.defaults?.vars, ['defaults', 'vars']);
  raw.nodes.forEach((n, i) => scan(n.vars, ['nodes', i, 'vars']));
  return out;
}
