// What the membershipd API answers, as the client sees it.
// The records are the protocol's types (src/protocol), shared with the
// daemon: one definition of the wire format.
import type { Role, RoomRecord, SealedKey, UserRecord } from '../protocol/model.js';

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
