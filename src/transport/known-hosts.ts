import { createHmac, timingSafeEqual } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

// OpenSSH known_hosts, enough for strict checking: plain and hashed (|1|)
// host fields, `[host]:port` names, wildcard patterns and negation, and the
// @revoked marker (@cert-authority lines are skipped: no certificates here).

export interface KnownHostEntry {
  line: number;
  marker?: 'revoked' | 'cert-authority';
  hostField: string;
  keyType: string;
  key: Buffer;
}

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (!l || l.startsWith('#')) return;
    const f = l.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (f[0] === '@revoked' || f[0] === '@cert-authority') marker = f.shift()!.slice(1) as KnownHostEntry['marker'];
    if (f.length < 3) return;
    const key = Buffer.from(f[2]!, 'base64');
    if (!key.length) return;
    out.push({ line: i + 1, marker, hostField: f[0]!, keyType: f[1]!, key });
  });
  return out;
}

function globToRegExp(p: string): RegExp {
  return new RegExp('^' + p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
}

/** Whether a host field (hashed, or a comma list of patterns) names `name`. */
export function matchesHostField(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const want = Buffer.from(hash, 'base64');
    const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return want.length === got.length && timingSafeEqual(want, got);
  }
  let hit = false;
  for (const pat of field.split(',')) {
    if (pat.startsWith('!')) {
      if (globToRegExp(pat.slice(1)).test(name)) return false;
    } else if (globToRegExp(pat).test(name)) hit = true;
  }
  return hit;
}

/** The key type written inside an SSH public key blob (its first string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** Host key algorithms to offer so that the server presents a key type we know for it. */
export function algorithmsFor(keyTypes: readonly string[]): string[] {
  const out = new Set<string>();
  for (const t of keyTypes) {
    if (t === 'ssh-rsa') ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'].forEach((a) => out.add(a));
    else out.add(t);
  }
  return [...out];
}

export type HostKeyVerdict =
  | { ok: true }
  | { ok: false; kind: 'unknown' | 'mismatch' | 'revoked'; detail: string };

/**
 * Compares a presented key with the file's entries for host:port. Unknown when
 * no entry names the host; a mismatch when entries exist but none holds this key.
 */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const mine = entries.filter((e) => e.marker !== 'cert-authority' && matchesHostField(e.hostField, name));
  const revoked = mine.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return { ok: false, kind: 'revoked', detail: `the presented key is marked @revoked on line ${revoked.line}` };
  const plain = mine.filter((e) => !e.marker);
  if (!plain.length) return { ok: false, kind: 'unknown', detail: `no entry for ${name}; add its key or use accept-new` };
  if (plain.some((e) => e.key.equals(key))) return { ok: true };
  return {
    ok: false,
    kind: 'mismatch',
    detail: `the presented ${keyTypeOf(key)} key differs from the key on line(s) ${plain.map((e) => e.line).join(', ')}; someone may be intercepting the connection, or the host was reinstalled`,
  };
}

export function readKnownHosts(file: string): KnownHostEntry[] {
  return existsSync(file) ? parseKnownHosts(readFileSync(file, 'utf8')) : [];
}

/** Records a first-seen key (accept-new). Never called for a changed key. */
export function appendKnownHost(file: string, host: string, port: number, key: Buffer): void {
  if (!existsSync(dirname(file))) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const existed = existsSync(file);
  const text = existed ? readFileSync(file, 'utf8') : '';
  const sep = text && !text.endsWith('\n') ? '\n' : '';
  appendFileSync(file, `${sep}${knownHostsName(host, port)} ${keyTypeOf(key)} ${key.toString('base64')}\n`, { mode: 0o600 });
  if (!existed) chmodSync(file, 0o600);
}
