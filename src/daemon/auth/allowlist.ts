// Data-plane ACLs computed from the control plane: each active user may
// publish and subscribe only on their rooms' subjects and their own inbox.
// Users log in to NATS with their signing key as an nkey.
import { readFile } from 'node:fs/promises';
import type { AllowUser } from '../nats/conf.js';
import { writeFileAtomic } from '../../util/fs.js';
import type { Store } from '../store/buckets.js';
import { listKeys, readJson } from '../store/kvjson.js';
import type { MembersRecord } from '../../protocol/model.js';
import { listUsers } from '../store/users.js';
import { nkeyFromRaw } from '../../protocol/ed25519.js';

/** No data-plane user may touch JetStream, KV, object store or system subjects. */
export const DENY_SUBJECTS = ['$JS.>', '$KV.>', '$O.>', '$SYS.>'];

export function roomSubject(room: string): string {
  return `unibus.room.${room}.>`;
}

/** The inbox prefix a user's NATS client must use (nats.js: `inboxPrefix`). */
export function inboxPrefix(handle: string): string {
  return `_INBOX_${handle}`;
}

export async function computeAllowlist(store: Store): Promise<AllowUser[]> {
  const roomsOf = new Map<string, string[]>();
  for (const room of await listKeys(store.kv.members)) {
    const m = await readJson<MembersRecord>(store.kv.members, room);
    if (!m || !m.value.members) continue;
    for (const h of Object.keys(m.value.members)) roomsOf.set(h, [...(roomsOf.get(h) ?? []), m.value.room]);
  }
  const out: AllowUser[] = [];
  const seen = new Set<string>();
  for (const u of await listUsers(store)) {
    if (u.status !== 'active') continue;
    // One nkey once: a duplicate would make nats-server refuse the whole config.
    const nkey = nkeyFromRaw(Buffer.from(u.sign_pub, 'hex'));
    if (seen.has(nkey)) continue;
    seen.add(nkey);
    // The inbox is always allowed, so an allow list is never empty (empty would mean "all").
    const allow = [...(roomsOf.get(u.handle) ?? []).sort().map(roomSubject), `${inboxPrefix(u.handle)}.>`];
    out.push({
      nkey,
      permissions: { publish: { allow, deny: DENY_SUBJECTS }, subscribe: { allow, deny: DENY_SUBJECTS } },
    });
  }
  return out.sort((a, b) => a.nkey.localeCompare(b.nkey));
}

/** The last applied list, so a node restarting without quorum enforces it (not an empty or open list). */
export function allowlistCacheFile(stateDir: string): string {
  return `${stateDir}/allowlist.json`;
}

export async function saveAllowlist(file: string, users: AllowUser[]): Promise<void> {
  await writeFileAtomic(file, JSON.stringify({ saved_at: new Date().toISOString(), users }, null, 1) + '\n', 0o600);
}

/** The cached list, or null when there is none (first start). A corrupt cache is an error, not an empty list. */
export async function loadCachedAllowlist(file: string): Promise<AllowUser[] | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const v = JSON.parse(text) as { users?: AllowUser[] };
  if (!Array.isArray(v.users) || !v.users.every((u) => typeof u.nkey === 'string' && u.nkey.startsWith('U'))) {
    throw new Error(`${file}: not an allowlist cache (expected {"users": [{"nkey": "U..."}]})`);
  }
  return v.users;
}
