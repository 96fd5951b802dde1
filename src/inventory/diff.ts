// What an inventory edit means for the running cluster, for review in git:
// which nodes' files re-render, which nodes restart, which certificates
// re-mint, which nodes join or leave.
//
// Public API:
//   diffInventories(old, new) -> InventoryDiff
//   formatInventoryDiff(diff) -> text (secret-looking values redacted)
//
// The rules, from what each setting feeds:
//   - a node's public_ip, wg_ip, host or name is in its certificates' names:
//     its certificates re-mint; peers' cluster.env lists its route address.
//   - cluster name, ports, route_network, cluster_user, sync_interval,
//     state_dir, kv_replicas, nonce_store are in every node's cluster.env:
//     every node re-renders and restarts (kv_replicas and nonce_store also
//     need `play scale-r3`).
//   - user, port, identity_file, connection only change how unibus reaches
//     the host: nothing re-renders.
//   - service_manager changes the unit the node runs under: that node
//     re-renders and restarts. vars feed that node's templates.
//   - a node added or removed changes every node's routes.
import { isDeepStrictEqual } from 'node:util';
import { routeAddress } from './checks.js';
import type { Inventory, NodeSpec } from './types.js';
import { redactVars } from './vars.js';

export interface InventoryChange {
  /** 'cluster.kv_replicas', 'nodes.n2.public_ip', 'nodes.n4' */
  path: string;
  before: unknown;
  after: unknown;
  meaning: string;
}

export interface InventoryDiff {
  changes: InventoryChange[];
  rerender: string[];
  restart: string[];
  remint: string[];
  added: string[];
  removed: string[];
  notes: string[];
}

/** Settings that re-render cluster.env but reach existing buckets only through `play scale-r3`. */
const SCALE_SETTINGS: Record<string, string> = {
  kv_replicas: 'cluster.env re-renders on every node; existing buckets change replicas only through `unibus play scale-r3`',
  nonce_store: 'cluster.env re-renders on every node; the nonce bucket moves only through `unibus play scale-r3`, which refuses signed requests for 130 s if it held nonces',
};

const REACH_FIELDS = ['user', 'port', 'identity_file', 'connection'] as const;
const ADDRESS_FIELDS = ['public_ip', 'wg_ip', 'host'] as const;

export function diffInventories(a: Inventory, b: Inventory): InventoryDiff {
  const d: InventoryDiff = { changes: [], rerender: [], restart: [], remint: [], added: [], removed: [], notes: [] };
  const all = b.nodes.map((n) => n.name);
  const rerender = new Set<string>();
  const restart = new Set<string>();
  const remint = new Set<string>();
  const everyone = () => all.forEach((n) => (rerender.add(n), restart.add(n)));

  for (const key of new Set([...Object.keys(a.cluster), ...Object.keys(b.cluster)])) {
    const before = a.cluster[key];
    const after = b.cluster[key];
    if (isDeepStrictEqual(before, after)) continue;
    let meaning = 'cluster.env re-renders and every node restarts';
    if (key in SCALE_SETTINGS) {
      meaning = SCALE_SETTINGS[key]!;
      all.forEach((n) => rerender.add(n));
    } else if (key === 'admin') {
      meaning = 'the first admin is seeded at bringup when the cluster has none; nothing restarts';
    } else {
      everyone();
      if (key === 'route_network') {
        meaning += '; route certificates re-mint (their addresses change)';
        all.forEach((n) => remint.add(n));
      }
      if (key === 'name') d.notes.push('a new cluster name is a new NATS cluster: existing JetStream state does not follow it');
      if (key === 'state_dir') d.notes.push('state_dir moved: existing data is not moved by unibus');
    }
    d.changes.push({ path: `cluster.${key}`, before, after, meaning });
  }

  const old = new Map(a.nodes.map((n) => [n.name, n]));
  const now = new Map(b.nodes.map((n) => [n.name, n]));
  for (const n of b.nodes) {
    const prev = old.get(n.name);
    if (!prev) {
      d.added.push(n.name);
      d.changes.push({ path: `nodes.${n.name}`, before: undefined, after: n.public_ip, meaning: 'node added: its certificates are minted; every node re-renders its routes and restarts' });
      remint.add(n.name);
      everyone();
      continue;
    }
    diffNode(a, b, prev, n, d, { rerender, restart, remint, all });
  }
  for (const n of a.nodes) {
    if (now.has(n.name)) continue;
    d.removed.push(n.name);
    d.changes.push({ path: `nodes.${n.name}`, before: n.public_ip, after: undefined, meaning: 'node removed: the others re-render their routes and restart; unibus does not stop or wipe it (play remove-node drains and removes a live node before its entry goes; play replace-node removes a dead one from the meta group)' });
    everyone();
  }
  if (a.nodes.length !== b.nodes.length && b.nodes.length < b.cluster.kv_replicas) d.notes.push('fewer nodes than kv_replicas');
  d.rerender = all.filter((n) => rerender.has(n));
  d.restart = all.filter((n) => restart.has(n));
  d.remint = all.filter((n) => remint.has(n));
  return d;
}

function diffNode(
  a: Inventory,
  b: Inventory,
  prev: NodeSpec,
  n: NodeSpec,
  d: InventoryDiff,
  acc: { rerender: Set<string>; restart: Set<string>; remint: Set<string>; all: string[] },
): void {
  const change = (field: string, before: unknown, after: unknown, meaning: string) =>
    d.changes.push({ path: `nodes.${n.name}.${field}`, before, after, meaning });
  for (const f of ADDRESS_FIELDS) {
    if (prev[f] === n[f]) continue;
    // host defaults to public_ip: that change is already reported under public_ip.
    if (f === 'host' && prev.host === prev.public_ip && n.host === n.public_ip) continue;
    acc.remint.add(n.name);
    acc.rerender.add(n.name);
    acc.restart.add(n.name);
    let meaning = `${n.name}'s certificates re-mint (the address is in their names); ${n.name} re-renders and restarts`;
    if (routeAddress(a.cluster, prev) !== routeAddress(b.cluster, n)) {
      meaning += '; every node re-renders its routes and restarts';
      acc.all.forEach((x) => (acc.rerender.add(x), acc.restart.add(x)));
    }
    change(f, prev[f], n[f], meaning);
  }
  for (const f of REACH_FIELDS) {
    if (prev[f] !== n[f]) change(f, prev[f], n[f], 'only how unibus reaches the host: nothing re-renders or restarts');
  }
  if (prev.role !== n.role) change('role', prev.role, n.role, 'plays that select hosts by role now pick it differently');
  if (prev.service_manager !== n.service_manager) {
    acc.rerender.add(n.name);
    acc.restart.add(n.name);
    change('service_manager', prev.service_manager, n.service_manager, `${n.name} moves to the ${n.service_manager} manager: stopped under the old one, started under the new`);
  }
  for (const k of new Set([...Object.keys(prev.vars), ...Object.keys(n.vars)])) {
    if (isDeepStrictEqual(prev.vars[k], n.vars[k])) continue;
    acc.rerender.add(n.name);
    acc.restart.add(n.name);
    const port = /^(http|nats|route)_port$/.test(k);
    if (port) acc.all.forEach((x) => (acc.rerender.add(x), acc.restart.add(x)));
    change(`vars.${k}`, prev.vars[k], n.vars[k], port ? 'a listener moves: every node re-renders and restarts' : `${n.name}'s templates re-render; it restarts if a rendered file changes`);
  }
}

const show = (v: unknown): string => (v === undefined ? '(absent)' : JSON.stringify(v));

export function formatInventoryDiff(diff: InventoryDiff): string {
  if (!diff.changes.length) return 'no changes';
  const lines: string[] = [];
  for (const c of diff.changes) {
    const leaf = c.path.split('.').pop() ?? '';
    const [before, after] = [c.before, c.after].map((v) => show(redactVars({ [leaf]: v })[leaf]));
    lines.push(`${c.path}: ${before} -> ${after}`, `    ${c.meaning}`);
  }
  const list = (xs: string[]) => (xs.length ? xs.join(', ') : '-');
  lines.push(
    '',
    `re-render:     ${list(diff.rerender)}`,
    `restart:       ${list(diff.restart)}`,
    `re-mint certs: ${list(diff.remint)}`,
    `added:         ${list(diff.added)}`,
    `removed:       ${list(diff.removed)}`,
  );
  for (const n of diff.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}
