// A typed client of membershipd's /v1 API. Every request is signed with the
// user's Ed25519 seed. By default requests go out through node:http(s) on a
// keep-alive agent of the client's own (a fraction of fetch's CPU per request,
// which matters for a load generator or the chaos workload sharing a host with
// the cluster). `fetch` is pluggable so tests can call an h3 app's web handler
// directly, and so a caller can bring its own TLS settings.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { UnibusError } from '../errors.js';
import { signHeaders, type SignOptions } from '../protocol/sign.js';
import type { Role, Room, RoomDetail, SealedKey, User } from './types.js';

export class ApiClientError extends UnibusError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${status} ${code}: ${message}`, options);
  }
}

export type FetchLike = (req: Request) => Promise<Response>;

export interface ClientOptions {
  baseUrl: string;
  handle: string;
  seed: Uint8Array;
  fetch?: FetchLike;
  timeoutMs?: number;
}

export interface RawResult {
  status: number;
  body: Uint8Array;
  json<T = unknown>(): T;
}

/** The request met a reused keep-alive connection that the server had closed. */
class StaleSocketError extends UnibusError {
  constructor(cause: Error) {
    super(`kept-alive connection closed by the server: ${cause.message}`, { cause });
  }
}

/** Bound on one request when the caller sets none. */
const DEFAULT_TIMEOUT_MS = 10_000;

export class UnibusClient {
  #agent: HttpAgent | undefined;
  constructor(readonly o: ClientOptions) {}

  /** Closes the client's idle keep-alive connections (they never hold the process open). */
  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
  }

  /** Sends one signed request; `override` changes what is signed or sent (tests of refusals). */
  async raw(
    method: string,
    path: string,
    body?: Uint8Array | string | object,
    override: Partial<SignOptions> & { contentType?: string; tamper?: (h: Record<string, string>) => void } = {},
  ): Promise<RawResult> {
    const bytes =
      body === undefined ? Buffer.alloc(0) : body instanceof Uint8Array ? Buffer.from(body) : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    // Sign the request target exactly as it goes on the wire (after URL normalisation).
    const url = new URL(path, this.o.baseUrl);
    const headers = signHeaders({ handle: this.o.handle, seed: this.o.seed, method, pathAndQuery: url.pathname + url.search, body: bytes, ...override });
    if (bytes.length) headers['content-type'] = override.contentType ?? (body instanceof Uint8Array ? 'application/octet-stream' : 'application/json');
    override.tamper?.(headers);
    const timeoutMs = this.o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let status: number;
    let out: Uint8Array;
    if (this.o.fetch) {
      const req = new Request(url, { method, headers, body: bytes.length ? new Uint8Array(bytes) : undefined, signal: AbortSignal.timeout(timeoutMs) });
      const res = await this.o.fetch(req);
      status = res.status;
      out = new Uint8Array(await res.arrayBuffer());
    } else {
      const deadline = Date.now() + timeoutMs;
      try {
        ({ status, body: out } = await this.#send(url, method, headers, bytes, timeoutMs));
      } catch (err) {
        // A kept-alive connection the server closed as idle just as this
        // request went out: the server read nothing, so send it again, once,
        // on a new connection. The same nonce goes with it: had the server
        // acted on the first, the second would be refused as a replay.
        if (!(err instanceof StaleSocketError)) throw err;
        ({ status, body: out } = await this.#send(url, method, headers, bytes, Math.max(1, deadline - Date.now())));
      }
    }
    return { status, body: out, json: <T>() => JSON.parse(Buffer.from(out).toString('utf8')) as T };
  }

  /** One request over node:http(s), bounded by timeoutMs from start to the body's last byte. */
  #send(url: URL, method: string, headers: Record<string, string>, body: Buffer, timeoutMs: number): Promise<{ status: number; body: Buffer }> {
    const https = url.protocol === 'https:';
    if (!https && url.protocol !== 'http:') return Promise.reject(new UnibusError(`${url.href}: expected an http:// or https:// URL`));
    this.#agent ??= https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
    if (body.length) headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(url, { method, headers, agent: this.#agent }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) });
        });
        res.on('error', fail);
      });
      const timer = setTimeout(() => req.destroy(new UnibusError(`${method} ${url.pathname}: no answer within ${timeoutMs} ms`)), timeoutMs);
      function fail(err: Error) {
        clearTimeout(timer);
        const code = (err as NodeJS.ErrnoException).code;
        reject(req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE') ? new StaleSocketError(err) : err);
      }
      req.on('error', fail);
      req.end(body.length ? body : undefined);
    });
  }

  async #call<T>(method: string, path: string, body?: Uint8Array | object, binary = false): Promise<T> {
    const r = await this.raw(method, path, body);
    if (r.status >= 400) {
      let code = 'http_error';
      let message = Buffer.from(r.body).toString('utf8').slice(0, 300);
      try {
        const e = r.json<{ error: { code: string; message: string } }>().error;
        code = e.code;
        message = e.message;
      } catch {
        // not our JSON error: keep the text
      }
      throw new ApiClientError(r.status, code, message);
    }
    if (binary) return r.body as T;
    return (r.body.length ? r.json<T>() : undefined) as T;
  }

  me(): Promise<User> {
    return this.#call('GET', '/v1/users/me');
  }
  listUsers(): Promise<{ users: User[] }> {
    return this.#call('GET', '/v1/users');
  }
  getUser(handle: string): Promise<User> {
    return this.#call('GET', `/v1/users/${encodeURIComponent(handle)}`);
  }
  addUser(u: { handle: string; sign_pub: string; box_pub?: string; role: Role }): Promise<{ user: User; created: boolean }> {
    return this.#call('POST', '/v1/users', u);
  }
  revokeUser(handle: string): Promise<User> {
    return this.#call('POST', `/v1/users/${encodeURIComponent(handle)}/revoke`, {});
  }
  createRoom(name: string): Promise<Room> {
    return this.#call('POST', '/v1/rooms', { name });
  }
  listRooms(): Promise<{ rooms: string[] }> {
    return this.#call('GET', '/v1/rooms');
  }
  getRoom(name: string): Promise<RoomDetail> {
    return this.#call('GET', `/v1/rooms/${encodeURIComponent(name)}`);
  }
  addMember(room: string, handle: string): Promise<RoomDetail> {
    return this.#call('POST', `/v1/rooms/${encodeURIComponent(room)}/members`, { handle });
  }
  removeMember(room: string, handle: string): Promise<RoomDetail> {
    return this.#call('DELETE', `/v1/rooms/${encodeURIComponent(room)}/members/${encodeURIComponent(handle)}`);
  }
  putKeys(room: string, epoch: number, keys: Record<string, string>): Promise<{ epoch: number }> {
    return this.#call('PUT', `/v1/rooms/${encodeURIComponent(room)}/keys`, { epoch, keys });
  }
  getKey(room: string, epoch: number): Promise<SealedKey> {
    return this.#call('GET', `/v1/rooms/${encodeURIComponent(room)}/keys/${epoch}`);
  }
  putBlob(room: string, data: Uint8Array): Promise<{ sha256: string; size: number }> {
    return this.#call('PUT', `/v1/rooms/${encodeURIComponent(room)}/blobs`, data);
  }
  getBlob(room: string, sha256: string): Promise<Uint8Array> {
    return this.#call('GET', `/v1/rooms/${encodeURIComponent(room)}/blobs/${sha256}`, undefined, true);
  }
}
