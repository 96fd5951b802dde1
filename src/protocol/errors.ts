// The control plane's refusals: each carries an HTTP status and a stable code
// that clients match on. Messages never name another user's state.
import { UnibusError } from '../errors.js';

export const API_CODES = {
  bad_signature: 401,
  unknown_user: 401,
  stale_timestamp: 401,
  replay: 401,
  revoked: 403,
  not_member: 403,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  bad_request: 400,
  unavailable: 503,
  clock_skew: 503,
} as const;

export type ApiCode = keyof typeof API_CODES;

export class ApiError extends UnibusError {
  readonly status: number;
  constructor(
    readonly code: ApiCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = API_CODES[code];
  }
  toJSON(): { error: { code: ApiCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/**
 * One field of the input is not what it must be. Keeps the field and the
 * expectation apart so each entry point (an HTTP body, an operator flag, a
 * playbook argument) can name the field its own way with the same words.
 */
export class FieldError extends ApiError {
  constructor(
    readonly field: string,
    readonly expected: string,
  ) {
    super('bad_request', `${field}: expected ${expected}`);
  }
}

/** The store could not reach a quorum (timeout, no responders, no leader): refuse, never guess. */
export class UnavailableError extends ApiError {
  constructor(what: string, cause?: unknown) {
    super('unavailable', `control plane unavailable (${what}): no quorum or no stream leader; retry later`, { cause });
  }
}
