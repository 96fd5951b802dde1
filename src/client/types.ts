// What the membershipd API answers, as the client sees it.
export type Role = 'admin' | 'member';

export interface User {
  handle: string;
  sign_pub: string;
  box_pub?: string;
  role: Role;
  status: 'active' | 'revoked';
  created_at: string;
  revoked_at?: string;
}

export interface Room {
  name: string;
  owner: string;
  created_at: string;
}

export interface RoomDetail extends Room {
  epoch: number;
  rekey_required: boolean;
  members: { handle: string; box_pub?: string }[];
}

export interface SealedKey {
  room: string;
  epoch: number;
  handle: string;
  sealed: string;
  by: string;
  at: string;
}

export interface ApiErrorBody {
  error: { code: string; message: string };
}
