// The names of the control plane's JetStream state: a leaf that every store
// file may import (buckets.ts opens them; follow.ts follows two of them).

export const BUCKETS = {
  users: 'UNIBUS_users',
  rooms: 'UNIBUS_rooms',
  members: 'UNIBUS_members',
  roomKeys: 'UNIBUS_room_keys',
  roomsByMember: 'UNIBUS_rooms_by_member',
  nonces: 'UNIBUS_nonces',
} as const;
export type BucketId = keyof typeof BUCKETS;
export const BLOB_STORE = 'UNIBUS_blobs';

/** Stream names behind the buckets (what /jsz and /healthz report on). */
export const CONTROL_STREAMS: string[] = [...Object.values(BUCKETS).map((b) => `KV_${b}`), `OBJ_${BLOB_STORE}`];
/** The nonce bucket's stream: the one every claim writes to, QuorumGuard and NonceHistory read, and scale-r3 may move. */
export const NONCE_STREAM = `KV_${BUCKETS.nonces}`;
