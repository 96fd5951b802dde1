// Backup and restore of the control plane: every bucket (except the nonces,
// which expire within minutes and mean nothing on another cluster) and every
// blob, in one JSON document with a sha256 digest and per-blob hashes.
//
// Restore refuses to overwrite newer data: an entry in the target written
// after the backup was taken (and different from it) stops the restore before
// anything is written, unless forced.
import type { Store, BucketId } from './buckets.js';
import { BUCKETS } from './buckets.js';
import { UnibusError } from '../../errors.js';
import { sha256Hex } from '../../util/hash.js';
import { readBlob } from './blobs.js';
import { listKeys, toApiError } from './kvjson.js';
import { waitOutReadLeases } from './follow.js';

export class BackupError extends UnibusError {}

export interface BackupEntry {
  key: string;
  /** The stored value, base64. */
  value: string;
  created: string;
}

export interface BackupDoc {
  format: 'unibus-backup';
  version: 1;
  created_at: string;
  buckets: Record<string, BackupEntry[]>;
  blobs: { name: string; description?: string; sha256: string; data: string }[];
  /** sha256 of this document serialised with `digest` set to "". */
  digest: string;
}

export const BACKED_UP: BucketId[] = ['users', 'rooms', 'members', 'roomKeys', 'roomsByMember'];

export function digestOf(doc: BackupDoc): string {
  return sha256Hex(Buffer.from(JSON.stringify({ ...doc, digest: '' })));
}

export async function backupStore(store: Store): Promise<BackupDoc> {
  const created_at = new Date().toISOString();
  const buckets: Record<string, BackupEntry[]> = {};
  try {
    for (const id of BACKED_UP) {
      const kv = store.kv[id];
      const out: BackupEntry[] = [];
      for (const k of await listKeys(kv)) {
        const e = await kv.get(k);
        if (e && e.operation === 'PUT') out.push({ key: k, value: Buffer.from(e.value).toString('base64'), created: e.created.toISOString() });
      }
      buckets[BUCKETS[id]] = out;
    }
    const blobs: BackupDoc['blobs'] = [];
    for (const info of (await store.blobs.list()).filter((i) => !i.deleted).sort((a, b) => a.name.localeCompare(b.name))) {
      const data = await readBlob(store, info.name);
      if (!data) throw new BackupError(`blob ${info.name} vanished during the backup; run it again`);
      const sha = sha256Hex(data);
      if (!info.name.endsWith(`/${sha}`)) throw new BackupError(`blob ${info.name} read back with hash ${sha}; refusing a corrupt backup`);
      blobs.push({ name: info.name, ...(info.description ? { description: info.description } : {}), sha256: sha, data: Buffer.from(data).toString('base64') });
    }
    const doc: BackupDoc = { format: 'unibus-backup', version: 1, created_at, buckets, blobs, digest: '' };
    doc.digest = digestOf(doc);
    return doc;
  } catch (err) {
    if (err instanceof BackupError) throw err;
    throw toApiError(err, 'backup');
  }
}

/** Checks format, digest and every blob hash; throws naming what is wrong. */
export function checkBackupDoc(v: unknown, file: string): BackupDoc {
  const d = v as BackupDoc;
  if (!d || d.format !== 'unibus-backup' || d.version !== 1) throw new BackupError(`${file}: not a unibus backup (expected format "unibus-backup", version 1)`);
  if (digestOf(d) !== d.digest) throw new BackupError(`${file}: digest mismatch: the file was changed or truncated`);
  for (const b of d.blobs) {
    if (sha256Hex(Buffer.from(b.data, 'base64')) !== b.sha256) throw new BackupError(`${file}: blob ${b.name} does not match its sha256`);
  }
  return d;
}

export interface RestoreResult {
  written: number;
  unchanged: number;
  blobsWritten: number;
}

export async function restoreStore(store: Store, doc: BackupDoc, force = false): Promise<RestoreResult> {
  const plan: { id: BucketId; e: BackupEntry }[] = [];
  const newer: string[] = [];
  let unchanged = 0;
  try {
    for (const id of BACKED_UP) {
      for (const e of doc.buckets[BUCKETS[id]] ?? []) {
        const cur = await store.kv[id].get(e.key);
        if (cur && cur.operation === 'PUT' && Buffer.from(cur.value).toString('base64') === e.value) {
          unchanged++;
          continue;
        }
        if (cur && cur.operation === 'PUT' && cur.created.toISOString() > doc.created_at) newer.push(`${BUCKETS[id]}/${e.key}`);
        plan.push({ id, e });
      }
    }
    if (newer.length && !force) {
      throw new BackupError(`the target has newer data than the backup (${newer.slice(0, 5).join(', ')}${newer.length > 5 ? ', ...' : ''}); pass --force to overwrite`);
    }
    for (const { id, e } of plan) await store.kv[id].put(e.key, Buffer.from(e.value, 'base64'));
    if (plan.some(({ id }) => id === 'users' || id === 'members')) await waitOutReadLeases();
    let blobsWritten = 0;
    for (const b of doc.blobs) {
      const info = await store.blobs.info(b.name);
      if (info && !info.deleted) continue;
      await store.blobs.putBlob({ name: b.name, ...(b.description ? { description: b.description } : {}) }, Buffer.from(b.data, 'base64'));
      blobsWritten++;
    }
    return { written: plan.length, unchanged, blobsWritten };
  } catch (err) {
    if (err instanceof BackupError) throw err;
    throw toApiError(err, 'restore');
  }
}
