// Users: added by admins (or the operator command), revoked but never deleted.
//
// addUser and revokeUser are the only writes to UNIBUS_users (besides a
// restore, which puts back a whole backup), and they check their own input
// (checkNewUser, checkHandle) before touching the bucket, so no caller (the
// API, `membershipd user add`, the controller step behind cluster_user) can
// store what another would refuse: a record under a key that is no handle
// would be left out of every list, could never sign, and would hold its key's
// reservation for good. Invariants:
//   - every key is a handle (HANDLE_RE) holding a UserRecord with a valid
//     role and keys, or `pub.<sign_pub>` naming the one handle that owns it;
//   - a refused add or revoke has written nothing (no record, no reservation).
import type { Store } from './buckets.js';
import { ApiError } from '../../protocol/errors.js';
import { createJson, listKeys, readCreated, readJson, toApiError, updateJson } from './kvjson.js';
import { readConsistent, waitOutReadLeases } from './follow.js';
import { HANDLE_RE, checkHandle, checkHex32, checkRole, nowIso, type Role, type UserRecord } from '../../protocol/model.js';

/**
 * A signing key is one NATS nkey: two handles with one key would render two
 * users with the same nkey, which nats-server refuses, so every reload would
 * fail. `pub.<hex>` entries (never a handle: handles have no dot) reserve
 * each key for one handle with create-if-absent.
 */
function keyIndex(signPub: string): string {
  return `pub.${signPub}`;
}

export async function getUser(store: Store, handle: string): Promise<UserRecord | null> {
  const r = await readConsistent(store.kv.users, store.follow?.users, handle);
  return r ? r.value : null;
}

export interface NewUser {
  handle: string;
  sign_pub: string;
  box_pub?: string;
  role: Role;
}

/** A new user as it arrives from outside (a JSON body, flags, a step's stdin): not yet checked. */
export type NewUserInput = { [K in keyof NewUser]?: unknown };

export function checkNewUser(o: NewUserInput): NewUser {
  return {
    handle: checkHandle(o.handle),
    sign_pub: checkHex32(o.sign_pub, 'sign_pub'),
    box_pub: o.box_pub === undefined ? undefined : checkHex32(o.box_pub, 'box_pub'),
    role: checkRole(o.role),
  };
}

/**
 * Idempotent add: the same handle with the same signing key changes nothing
 * (`created: false`); the same handle with another key, or a revoked handle, is refused.
 */
export async function addUser(store: Store, input: NewUserInput): Promise<{ user: UserRecord; created: boolean }> {
  const u = checkNewUser(input);
  const rec: UserRecord = { handle: u.handle, sign_pub: u.sign_pub, role: u.role, status: 'active', created_at: nowIso() };
  if (u.box_pub) rec.box_pub = u.box_pub;
  const reserved = await createJson(store.kv.users, keyIndex(u.sign_pub), { handle: u.handle });
  if (reserved === false) {
    const owner = await readJson<{ handle: string }>(store.kv.users, keyIndex(u.sign_pub));
    if (owner && owner.value.handle !== u.handle) throw new ApiError('conflict', 'sign_pub is already the key of another user');
  }
  if ((await createJson(store.kv.users, u.handle, rec)) !== false) {
    await waitOutReadLeases();
    return { user: rec, created: true };
  }
  // "Exists" may be this request's own create, gone in on a try whose answer was lost: read until it shows.
  const cur = (await readCreated<UserRecord>(store.kv.users, u.handle)).value;
  if (cur.sign_pub === u.sign_pub && cur.created_at === rec.created_at && cur.status === 'active') {
    await waitOutReadLeases();
    return { user: cur, created: true };
  }
  if (reserved !== false && cur.sign_pub !== u.sign_pub) {
    // This add is refused below: free the key it reserved (a key the handle already holds stays).
    await store.kv.users.delete(keyIndex(u.sign_pub)).catch((err) => {
      throw toApiError(err, 'release key');
    });
  }
  if (cur.status === 'revoked') throw new ApiError('conflict', `user ${u.handle} is revoked; handles are never reused`);
  if (cur.sign_pub !== u.sign_pub) throw new ApiError('conflict', `user ${u.handle} exists with another signing key`);
  if (cur.role !== u.role || (u.box_pub && cur.box_pub !== u.box_pub)) {
    throw new ApiError('conflict', `user ${u.handle} exists with another role or box key`);
  }
  // The add that wrote this record may have committed only just now (a retry
  // racing it): "exists" is an acknowledgement too, so wait out the lease.
  await waitOutReadLeases();
  return { user: cur, created: false };
}

/** Revoke keeps the record (history); revoking twice is a no-op. */
export async function revokeUser(store: Store, handle: string): Promise<UserRecord> {
  // A `pub.` key is no user: revoking it would corrupt the key index.
  checkHandle(handle);
  const out = await updateJson<UserRecord>(store.kv.users, handle, (cur) => {
    if (!cur) throw new ApiError('not_found', `no user ${handle}`);
    if (cur.status === 'revoked') return undefined;
    return { ...cur, status: 'revoked', revoked_at: nowIso() };
  });
  await waitOutReadLeases();
  return out as UserRecord;
}

export async function listUsers(store: Store): Promise<UserRecord[]> {
  const out: UserRecord[] = [];
  for (const k of (await listKeys(store.kv.users)).filter((k) => HANDLE_RE.test(k))) {
    const u = await getUser(store, k);
    if (u) out.push(u);
  }
  return out;
}
