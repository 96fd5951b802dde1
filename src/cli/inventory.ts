// unibus inventory check|show|diff — argument parsing and printing only.
//
//   unibus inventory check [-i FILE]              OK with counts and warnings (exit 0);
//                                                 every error with file:line:col on stderr (exit 2)
//   unibus inventory show [-i FILE] [--host H] [--json]
//                                                 resolved variables per host, secrets redacted
//   unibus inventory diff OLD NEW [--json]        what the change from OLD to NEW means;
//                                                 OLD or NEW may be a git revision and path
//                                                 (HEAD:inventory.yaml) when no such file exists
// -i/--inventory defaults to ./inventory.yaml. Exit codes: 0 ok, 2 bad input.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { ConfigErrors, UnibusError } from '../errors.js';
import { diffInventories, formatInventoryDiff } from '../inventory/diff.js';
import { loadInventory } from '../inventory/load.js';
import { selectHosts } from '../inventory/select.js';
import type { Inventory } from '../inventory/types.js';
import { hostVars, redactVars } from '../inventory/vars.js';

const USAGE = `usage: unibus inventory check [-i FILE]
       unibus inventory show [-i FILE] [--host H] [--json]
       unibus inventory diff OLD NEW [--json]`;

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        inventory: { type: 'string', short: 'i', default: 'inventory.yaml' },
        host: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`unibus inventory: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [sub, ...rest] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    switch (sub) {
      case 'check':
        return check(values.inventory);
      case 'show':
        return show(values.inventory, values.host, values.json);
      case 'diff':
        if (rest.length !== 2) break;
        return diff(rest[0], rest[1], values.json);
    }
  } catch (err) {
    if (err instanceof ConfigErrors) {
      console.error(err.message);
      console.error(`${err.errors.length} error(s)`);
      return 2;
    }
    if (err instanceof UnibusError) {
      console.error(`unibus inventory: ${err.message}`);
      return 2;
    }
    throw err;
  }
  console.error(USAGE);
  return 2;
}

function printWarnings(inv: Inventory): void {
  for (const w of inv.warnings) console.error(`warning: ${inv.file}: ${w}`);
}

function check(file: string): number {
  const inv = loadInventory(file);
  printWarnings(inv);
  const roles = new Set(inv.nodes.map((n) => n.role));
  console.log(
    `OK ${inv.file}: cluster ${inv.cluster.name}, ${inv.nodes.length} node(s) (${inv.nodes.map((n) => n.name).join(', ')}), ` +
      `${roles.size} role(s), kv_replicas ${inv.cluster.kv_replicas}, route_network ${inv.cluster.route_network}, ${inv.warnings.length} warning(s)`,
  );
  return 0;
}

function show(file: string, host: string | undefined, json: boolean): number {
  const inv = loadInventory(file);
  printWarnings(inv);
  const nodes = host ? selectHosts(inv, host) : inv.nodes;
  const out: Record<string, unknown> = {};
  for (const n of nodes) {
    const vars = redactVars(hostVars(inv, n));
    // Every host's vars repeat the whole node list; in text the names are enough.
    if (!json) {
      vars.nodes = (vars.nodes as { name: string }[]).map((x) => x.name);
      vars.peers = (vars.peers as { name: string }[]).map((x) => x.name);
    }
    out[n.name] = vars;
  }
  console.log(json ? JSON.stringify(out, null, 2) : stringify(out).trimEnd());
  return 0;
}

/** A file, or `REV:path` read with `git show` so a change can be reviewed before it is committed. */
function loadRevision(arg: string): Inventory {
  if (existsSync(arg) || !/^[^:/]+:.+$/.test(arg)) return loadInventory(arg);
  let text: string;
  try {
    text = execFileSync('git', ['show', arg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  } catch (err) {
    throw new UnibusError(`cannot read ${arg}: neither a file nor a git revision:path (${String((err as { stderr?: string }).stderr ?? err).trim()})`, { cause: err });
  }
  return loadInventory(arg, text);
}

function diff(oldFile: string, newFile: string, json: boolean): number {
  const d = diffInventories(loadRevision(oldFile), loadRevision(newFile));
  console.log(json ? JSON.stringify(redactVars(d), null, 2) : formatInventoryDiff(d));
  return 0;
}
