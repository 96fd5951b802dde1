// Turns a failed fetch or NATS connection into the reason a person can act
// on. Both libraries wrap the real error: undici throws `TypeError: fetch
// failed` with the socket's error in `cause`, nats.js a ConnectionError with
// it in `cause`, and our own errors (InternalConnectError) wrap those again.
// What is worth saying sits at the bottom of that chain, in a `code` such as
// ECONNREFUSED; a bound that ran out says neither how long it was nor where,
// so the caller passes both.

export type NetCauseKind = 'refused' | 'timeout' | 'tls' | 'dns' | 'closed' | 'unreachable' | 'other';

export interface NetCause {
  kind: NetCauseKind;
  /** host:port that was dialled. */
  address: string;
  /** The system's or library's error code (ECONNREFUSED, ERR_SSL_WRONG_VERSION_NUMBER, ...), when it gave one. */
  code?: string;
  /** For a timeout: the bound that ran out. */
  timeout_ms?: number;
  /** One line: what went wrong, at which address. */
  message: string;
}

export interface DialTarget {
  /** host:port that was dialled. */
  address: string;
  /** The bound the caller put on the attempt, named in a timeout's message. */
  timeoutMs?: number;
}

const REFUSED = new Set(['ECONNREFUSED']);
const CLOSED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME']);
const TIMEOUT = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
// OpenSSL's and Node's TLS codes: handshake failures and every certificate verification result.
const TLS_CODE = /^(ERR_SSL_|ERR_TLS_|EPROTO$|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|INVALID_CA$|INVALID_PURPOSE$|PATH_LENGTH_EXCEEDED$|ERROR_IN_CERT_|CRL_)/;
// nats.js says this in words, without a code, when one side wants TLS and the other does not.
const TLS_WORDS = /\btls\b|certificate|handshake/i;
// Wrappers that say only that something failed: never the reason.
const GENERIC = new Set(['fetch failed', 'connection refused', 'timeout']);

function chainOf(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

function codeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'string' ? c : undefined;
}

function isTimeout(e: unknown): boolean {
  // AbortSignal.timeout() rejects with a DOMException named TimeoutError; nats.js has its own TimeoutError.
  return (e as { name?: unknown })?.name === 'TimeoutError' || TIMEOUT.has(codeOf(e) ?? '');
}

/** OpenSSL's messages carry its whole error stack; the reason is the field after the function name. */
function tlsReason(message: string): string {
  const m = /SSL routines:[^:]*:([^:]+):/.exec(message);
  return (m ? m[1]! : message.split('\n')[0]!).trim();
}

/** The innermost message that says more than "it failed". */
function innermostMessage(chain: unknown[]): string {
  for (let i = chain.length - 1; i >= 0; i--) {
    const m = String((chain[i] as { message?: unknown })?.message ?? chain[i] ?? '').split('\n')[0]!.trim();
    if (m && !GENERIC.has(m)) return m;
  }
  return String((chain[0] as { message?: unknown })?.message ?? chain[0]);
}

/**
 * Says why a fetch or a NATS connection to `target.address` failed: connection
 * refused, a timeout and its bound, a TLS error and which, a failed DNS
 * lookup, a connection closed before the answer, or else the innermost message.
 */
export function describeNetError(err: unknown, target: DialTarget): NetCause {
  const { address } = target;
  const chain = chainOf(err);
  const coded = [...chain].reverse().find((e) => codeOf(e) !== undefined);
  const code = codeOf(coded);
  const withCode = (s: string) => (code ? `${s} (${code})` : s);
  if (code && REFUSED.has(code)) return { kind: 'refused', address, code, message: `connection refused at ${address}` };
  if (code && TLS_CODE.test(code)) {
    return { kind: 'tls', address, code, message: `TLS error at ${address}: ${tlsReason(String((coded as Error).message))} (${code})` };
  }
  if (code && DNS.has(code)) {
    const host = (coded as { hostname?: string }).hostname ?? address.replace(/:\d+$/, '');
    return { kind: 'dns', address, code, message: `DNS lookup of ${host} failed (${code})` };
  }
  if (code && UNREACHABLE.has(code)) return { kind: 'unreachable', address, code, message: `${address} unreachable (${code})` };
  if (chain.some(isTimeout)) {
    // undici's own connect timeout names its bound in its message; ours is the caller's.
    const own = /timeout: (\d+)ms/.exec(String((coded as Error | undefined)?.message ?? ''));
    const ms = own ? Number(own[1]) : target.timeoutMs;
    const cause: NetCause = { kind: 'timeout', address, message: ms === undefined ? withCode(`timed out at ${address}`) : withCode(`timed out after ${ms} ms at ${address}`) };
    if (code) cause.code = code;
    if (ms !== undefined) cause.timeout_ms = ms;
    return cause;
  }
  if (code && CLOSED.has(code)) return { kind: 'closed', address, code, message: `connection closed by ${address} before it answered (${code})` };
  const message = innermostMessage(chain);
  if (TLS_WORDS.test(message)) return { kind: 'tls', address, ...(code ? { code } : {}), message: withCode(`TLS error at ${address}: ${message}`) };
  return { kind: 'other', address, ...(code ? { code } : {}), message: withCode(`${address}: ${message}`) };
}
