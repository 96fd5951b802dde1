// The frame every /v1 handler runs in: size limit, signed-request check,
// JSON parsing, and errors as JSON `{error: {code, message}}` with stable codes.
import { defineEventHandler, getRequestHeader, getRouterParam, readRawBody, setResponseHeader, setResponseStatus, type EventHandler, type H3Event } from 'h3';
import type { Store } from '../store/buckets.js';
import { ApiError } from '../../protocol/errors.js';
import { checkRoom, type MembersRecord, type UserRecord } from '../../protocol/model.js';
import { getMembers } from '../store/rooms.js';
import type { QuorumGuard } from '../store/quorum.js';
import { verifyRequest } from '../auth/verify.js';
import type { ClockWatch } from '../store/clock.js';
import type { Misbehaviour } from '../misbehave.js';

export interface V1Deps {
  store: Store;
  /** Fast 503 while quorum is known lost; requests still prove quorum with their nonce write. */
  guard?: QuorumGuard;
  /** 503 clock_skew while this node's clock is off the cluster's (store/clock.ts). */
  clock?: ClockWatch;
  /** This node's clock (a test-only offset shifts it: daemon/clock.ts). */
  now?: () => number;
  /** Test-only broken promises (daemon/misbehave.ts). */
  misbehave?: ReadonlySet<Misbehaviour>;
  log?: (line: string) => void;
}

export const JSON_MAX_BYTES = 64 * 1024;

export interface Ctx {
  event: H3Event;
  user: UserRecord;
  body: Buffer;
  param(name: string): string;
  json(): Record<string, unknown>;
  /** The room's members, read at the leader while the request's own nonce claim ran (routes signed with `prefetchRoom`). */
  members?: Promise<MembersRecord | null>;
}

export interface SignedOptions {
  maxBody?: number;
  /**
   * The route's :room members are read side by side with the status read and
   * nonce claim, once the signature verifies (never for unsigned traffic):
   * one round trip less for every room-scoped request.
   */
  prefetchRoom?: boolean;
}

function sendError(event: H3Event, e: ApiError): unknown {
  setResponseStatus(event, e.status);
  setResponseHeader(event, 'content-type', 'application/json');
  return e.toJSON();
}

async function readLimitedBody(event: H3Event, max: number): Promise<Buffer> {
  if (getRequestHeader(event, 'transfer-encoding')) {
    throw new ApiError('bad_request', 'body: send it with a content-length (chunked bodies are not accepted)');
  }
  // Over HTTP/1.1 a body comes with a content-length (chunked is refused above);
  // in-process web requests (tests) carry none and are measured after reading.
  const cl = getRequestHeader(event, 'content-length');
  const len = Number(cl ?? '0');
  if (!Number.isSafeInteger(len) || len < 0) throw new ApiError('bad_request', 'content-length: expected a byte count');
  if (len > max) throw new ApiError('too_large', `body: at most ${max} bytes, got ${len}`);
  if (cl !== undefined && len === 0) return Buffer.alloc(0);
  if (event.method === 'GET' || event.method === 'HEAD') return Buffer.alloc(0);
  const b = (await readRawBody(event, false)) ?? Buffer.alloc(0);
  if (b.length > max) throw new ApiError('too_large', `body: at most ${max} bytes`);
  return Buffer.from(b);
}

// Without quorum every request is refused: log that once a second, not per request.
let lastUnavailableLog = 0;

export function signed(deps: V1Deps, fn: (c: Ctx) => Promise<unknown>, opts: SignedOptions = {}): EventHandler {
  const maxBody = opts.maxBody ?? JSON_MAX_BYTES;
  return defineEventHandler(async (event) => {
    try {
      const body = await readLimitedBody(event, maxBody);
      const param = (n: string) => decodeURIComponent(getRouterParam(event, n) ?? '');
      let members: Promise<MembersRecord | null> | undefined;
      const prefetch = () => {
        let room: string;
        try {
          room = checkRoom(param('room'));
        } catch {
          return; // the handler refuses the name itself
        }
        members = getMembers(deps.store, room);
        // Refused before the handler looks (bad nonce, revoked): not unhandled.
        members.catch(() => undefined);
      };
      deps.clock?.assertSane();
      const user = await verifyRequest(deps.store, deps.guard, {
        method: event.method,
        // The raw request target as sent, before any prefix stripping or decoding.
        pathAndQuery: event.node.req.originalUrl ?? event.path,
        header: (n) => getRequestHeader(event, n),
        body,
      }, deps.now?.(), opts.prefetchRoom ? prefetch : undefined, deps.misbehave);
      const c: Ctx = {
        event,
        user,
        body,
        param,
        json: () => parseJsonObject(body),
        members,
      };
      const out = await fn(c);
      setResponseHeader(event, 'cache-control', 'no-store');
      return out;
    } catch (err) {
      if (err instanceof ApiError) {
        if (err.code === 'unavailable') {
          deps.guard?.suspect();
          if (Date.now() - lastUnavailableLog > 1000) {
            lastUnavailableLog = Date.now();
            deps.log?.(`refused 503: ${err.message}${err.cause ? ` (${(err.cause as Error).message})` : ''}`);
          }
        }
        return sendError(event, err);
      }
      deps.log?.(`internal error on ${event.method} ${event.path}: ${(err as Error).stack ?? err}`);
      setResponseStatus(event, 500);
      return { error: { code: 'internal', message: 'internal error' } };
    }
  });
}

export function parseJsonObject(body: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ApiError('bad_request', `body: malformed JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ApiError('bad_request', 'body: expected a JSON object');
  return v as Record<string, unknown>;
}

export function requireAdmin(user: UserRecord): void {
  if (user.role !== 'admin') throw new ApiError('forbidden', 'this needs the admin role');
}
