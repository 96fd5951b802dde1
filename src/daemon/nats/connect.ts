// membershipd's own connection to its node, authenticated with the internal
// nkey identity and, when the data plane has TLS, pinned to --tls-ca.
import { readFile } from 'node:fs/promises';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';
import { UnibusError } from '../../errors.js';
import type { Secret } from '../../secret.js';
import { installRequestShim } from './request-shim.js';
import { installWriteBatching } from './write-batch.js';
import { sleep } from '../../util/time.js';

export class InternalConnectError extends UnibusError {}
export class BucketOpenError extends UnibusError {}

export interface InternalConnectOptions {
  servers: string;
  /** null when bus auth is off (loopback only). */
  seed: Secret | null;
  caFile?: string;
  name?: string;
  timeoutMs?: number;
}

/**
 * TLS options that pin a server to `caFile` and check its certificate against
 * the host dialled: nats.js hands Node a server name of "localhost" for IP
 * hosts.
 */
export async function pinnedTls(servers: string, caFile: string): Promise<{ ca: string; checkServerIdentity: (name: string, cert: PeerCertificate) => Error | undefined }> {
  const host = new URL(servers.includes('://') ? servers : `nats://${servers}`).hostname;
  return { ca: await readFile(caFile, 'utf8'), checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert) };
}

export async function connectInternal(o: InternalConnectOptions): Promise<NatsConnection> {
  const tls = o.caFile ? await pinnedTls(o.servers, o.caFile) : undefined;
  installRequestShim();
  installWriteBatching();
  try {
    return await connect({
      servers: o.servers,
      name: o.name ?? 'membershipd',
      timeout: o.timeoutMs ?? 5000,
      // The child restarts under us after a crash: keep reconnecting forever,
      // quickly, rather than surfacing a closed connection to the API.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      // Every request would otherwise build two Error objects up front for
      // their async stack traces: a tenth of the daemon's CPU under load.
      noAsyncTraces: true,
      ...(o.seed ? { authenticator: nkeyAuthenticator(new Uint8Array(o.seed.reveal())) } : {}),
      ...(tls ? { tls } : {}),
    });
  } catch (cause) {
    throw new InternalConnectError(`cannot connect to ${o.servers} with the internal identity`, { cause });
  }
}


/** The bound on creation attempt N (from 0): 0.5 s, then x1.5 each try, at most 5 s. */
export function attemptTimeoutMs(attempt: number): number {
  return Math.min(500 * 1.5 ** attempt, 5000);
}

/**
 * Creates-or-opens a KV bucket, retrying with short per-attempt timeouts
 * until budgetMs runs out: on a cold multi-node start the meta group needs a
 * while to elect a leader and place the stream.
 */
export async function openBucketWithRetry(
  nc: NatsConnection,
  name: string,
  opts: Partial<KvOptions>,
  budgetMs = 120_000,
  onError?: (err: unknown) => void | Promise<void>,
): Promise<KV> {
  const deadline = Date.now() + budgetMs;
  let last: unknown;
  // Before a meta leader exists a JetStream API request just goes unanswered:
  // start with a short per-attempt timeout and lengthen it (to 5 s) in case
  // the cluster is merely slow. kv.create is create-or-open, so retries are safe.
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const attemptMs = Math.min(attemptTimeoutMs(attempt), Math.max(100, deadline - Date.now()));
    try {
      return await new Kvm(jetstream(nc, { timeout: attemptMs })).create(name, opts);
    } catch (err) {
      last = err;
      await onError?.(err);
      // Short pause: on a cold start placement succeeds within a second or two.
      await sleep(Math.min(150, Math.max(0, deadline - Date.now())));
    }
  }
  throw new BucketOpenError(`KV bucket ${name} not available within ${budgetMs} ms`, { cause: last });
}

/** Retries an operation with a per-attempt bound until the overall budget ends. */
export async function retryWithin<T>(what: string, budgetMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + budgetMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await sleep(250);
    }
  }
  throw new BucketOpenError(`${what} did not succeed within ${budgetMs} ms`, { cause: last });
}
