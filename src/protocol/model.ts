// The control plane's records and the syntax of what users may send.
import { ApiError, FieldError } from './errors.js';

export type Role = 'admin' | 'member';

export interface UserRecord {
  handle: string;
  /** Ed25519 signing public key, 32 bytes as 64 hex digits. */
  sign_pub: string;
  /** X25519 box public key, 32 bytes as 64 hex digits (clients seal room keys to it). */
  box_pub?: string;
  role: Role;
  status: 'active' | 'revoked';
  created_at: string;
  revoked_at?: string;
}

export interface RoomRecord {
  name: string;
  owner: string;
  created_at: string;
}

/** One document per room in UNIBUS_members: the member set and the key epoch. */
export interface MembersRecord {
  room: string;
  epoch: number;
  /** Set when a member was removed: keys are refused until a new epoch is uploaded. */
  rekey_required: boolean;
  members: Record<string, { added_at: string; added_by: string }>;
}

export interface RoomsOfMember {
  handle: string;
  rooms: string[];
}

/* Handles and room names become NATS subject tokens and KV keys: no dots, no wildcards. */
export const HANDLE_RE = /^[a-z][a-z0-9_-]{2,31}$/;
export const ROOM_RE = /^[a-z][a-z0-9_-]{2,47}$/;
export const HEX32_RE = /^[0-9a-f]{64}$/;
export const SHA256_RE = /^[0-9a-f]{64}$/;

/* The words of each rule, shared with the inventory and playbook schemas so a refusal reads the same wherever it is met. */
export const HANDLE_EXPECTED = `${HANDLE_RE.source} (3-32 chars: a-z first, then a-z 0-9 _ -)`;
export const HEX32_EXPECTED = 'a 32-byte key as 64 lowercase hex digits';
export const ROLES: readonly Role[] = ['admin', 'member'];
export const ROLE_EXPECTED = '"admin" or "member"';

/**
 * A signing key as people write it in an inventory or a playbook: the stored
 * form (HEX32_RE) in either case, optionally prefixed `ed25519:`.
 * signPubOfText turns it into the stored form.
 */
export const SIGN_PUB_TEXT_RE = /^(?:[Ee][Dd]25519:)?[0-9A-Fa-f]{64}$/;
export const SIGN_PUB_TEXT_EXPECTED = 'an Ed25519 public key: 64 hex digits, optionally prefixed ed25519:';

export function checkHandle(v: unknown, field = 'handle'): string {
  if (typeof v !== 'string' || !HANDLE_RE.test(v)) throw new FieldError(field, HANDLE_EXPECTED);
  return v;
}

export function checkRoom(v: unknown, field = 'room'): string {
  if (typeof v !== 'string' || !ROOM_RE.test(v)) {
    throw new ApiError('bad_request', `${field}: expected ${ROOM_RE.source} (3-48 chars: a-z first, then a-z 0-9 _ -)`);
  }
  return v;
}

export function checkHex32(v: unknown, field: string): string {
  if (typeof v !== 'string' || !HEX32_RE.test(v)) throw new FieldError(field, HEX32_EXPECTED);
  return v;
}

export function checkRole(v: unknown, field = 'role'): Role {
  if (!(ROLES as unknown[]).includes(v)) throw new FieldError(field, ROLE_EXPECTED);
  return v as Role;
}

/** `ed25519:HEX` or HEX, either case, to the stored form (bare lowercase hex). */
export function signPubOfText(v: unknown, field: string): string {
  if (typeof v !== 'string' || !SIGN_PUB_TEXT_RE.test(v)) throw new FieldError(field, SIGN_PUB_TEXT_EXPECTED);
  return v.slice(v.length - 64).toLowerCase();
}

export function checkObject(v: unknown, field = 'body'): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ApiError('bad_request', `${field}: expected a JSON object`);
  }
  return v as Record<string, unknown>;
}

/** Refuses fields the endpoint does not know, so a typo is not silently ignored. */
export function checkKnownFields(o: Record<string, unknown>, allowed: string[], where = 'body'): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new ApiError('bad_request', `${where}.${k}: unknown field (expected one of ${allowed.join(', ')})`);
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}

/** A room key sealed to one member for one epoch: opaque to the server (clients seal it to the member's box key). */
/** Bounds of a sealed key's decoded size, in bytes. */
export const SEALED_MIN = 32;
export const SEALED_MAX = 1024;

export interface SealedKey {
  room: string;
  epoch: number;
  handle: string;
  sealed: string;
  by: string;
  at: string;
}
