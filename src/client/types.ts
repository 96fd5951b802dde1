// What the membershipd API answers, as the client sees it.
// The records are the server's own types (type-only imports: nothing of the
// daemon is loaded by the client); one definition of the wire format.
import type { Role, RoomRecord, UserRecord } from '../daemon/store/model.js';
import type { SealedKey } from '../daemon/store/keys.js';

export type { Role, SealedKey };
export type User = UserRecord;
export type Room = RoomRecord;

export interface RoomDetail extends Room {
  epoch: number;
  rekey_required: boolean;
  members: { handle: string; box_pub?: string }[];
}

export interface ApiErrorBody {
  error: { code: string; message: string };
}
