// Node data checks and the SAN set each node's certificates carry.
import { isIP } from 'node:net';
import { NodeDataError } from './errors.js';
import type { PkiNode } from './types.js';
import { canonicalIp, type San } from './x509.js';

// An inventory copied from the example still holds <PUBLIC_IP>-style markers,
// or ${VAR}/{{ var }} templates nobody rendered.
const PLACEHOLDER = /<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|CHANGEME|CHANGE_ME/i;
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

function isDnsName(s: string): boolean {
  return s.length <= 253 && s.split('.').every((l) => DNS_LABEL.test(l));
}

function checkField(node: string, field: string, value: unknown, kind: 'ip' | 'name' | 'ip-or-name'): void {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new NodeDataError(node, field, 'missing or empty', kind === 'ip' ? 'an IP address' : 'a host name or IP address');
  }
  if (PLACEHOLDER.test(value)) {
    throw new NodeDataError(node, field, `'${value}' is a placeholder`, 'the real value for this node');
  }
  const ok = kind === 'ip' ? isIP(value) !== 0 : kind === 'name' ? isDnsName(value) : isIP(value) !== 0 || isDnsName(value);
  if (!ok) {
    const expected = kind === 'ip' ? 'an IPv4 or IPv6 address' : kind === 'name' ? 'a DNS-safe name (letters, digits, -, .)' : 'a host name or IP address';
    throw new NodeDataError(node, field, `'${value}' is not valid`, expected);
  }
}

/** Throw a NodeDataError naming the node and field for the first bad value. */
export function validateNodes(nodes: PkiNode[]): void {
  const seen = new Set<string>();
  for (const [i, n] of nodes.entries()) {
    const label = typeof n.name === 'string' && n.name ? n.name : `#${i}`;
    checkField(label, 'name', n.name, 'name');
    if (seen.has(n.name)) throw new NodeDataError(n.name, 'name', 'duplicate node name', 'unique node names');
    seen.add(n.name);
    checkField(n.name, 'hostname', n.hostname, 'ip-or-name');
    checkField(n.name, 'publicIp', n.publicIp, 'ip');
    if (n.wgIp !== undefined) checkField(n.name, 'wgIp', n.wgIp, 'ip');
  }
}

/** Public IP, WireGuard IP, host name and node name, deduplicated, in that order. */
export function sansFor(n: PkiNode): San[] {
  const out: San[] = [];
  const add = (v: string | undefined) => {
    if (!v) return;
    const san: San = isIP(v) ? { type: 'ip', value: canonicalIp(v) } : { type: 'dns', value: v.toLowerCase() };
    if (!out.some((s) => s.type === san.type && s.value === san.value)) out.push(san);
  };
  add(n.publicIp);
  add(n.wgIp);
  add(n.hostname);
  add(n.name);
  return out;
}
