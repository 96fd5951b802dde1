// What every operator command shares: flags to reach a node, the refusal to
// talk to a non-loopback NATS URL without a pinned CA, and the internal
// identity connection onto the existing control-plane buckets.
import { access } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { UnibusError } from '../errors.js';
import { isLoopback } from './flags.js';
import { loadOrCreateIdentity } from './nats/identity.js';
import { connectInternal } from './nats/connect.js';
import { BUCKETS, openStore, type Store } from './store/buckets.js';

export class OperatorError extends UnibusError {}

export interface OpFlags {
  natsUrl: string;
  internalIdFile: string;
  ca?: string;
}

export const OP_FLAG_HELP = '[--nats-url nats://127.0.0.1:4250] [--internal-id-file F | --state-dir D] [--ca FILE]';

export const OP_FLAG_SPEC = {
  'nats-url': { type: 'string' },
  'internal-id-file': { type: 'string' },
  'state-dir': { type: 'string' },
  'server-name': { type: 'string' },
  ca: { type: 'string' },
} as const;

export function opFlags(v: Record<string, string | boolean | undefined>): OpFlags {
  const natsUrl = (v['nats-url'] as string | undefined) ?? process.env.UNIBUS_NATS_URL ?? 'nats://127.0.0.1:4250';
  const stateDir = (v['state-dir'] as string | undefined) ?? join('local_files', (v['server-name'] as string | undefined) ?? `membershipd-${hostname()}`);
  const internalIdFile = (v['internal-id-file'] as string | undefined) ?? join(stateDir, 'internal.nk');
  let host: string;
  try {
    host = new URL(natsUrl.replace(/^(nats|tls):/, 'http:')).hostname;
  } catch (cause) {
    throw new OperatorError(`--nats-url: expected a URL such as nats://127.0.0.1:4250, got ${natsUrl}`, { cause });
  }
  const ca = v.ca as string | undefined;
  if (!isLoopback(host.replace(/^\[|\]$/g, '')) && !ca) {
    throw new OperatorError(`--nats-url ${natsUrl} is not loopback: pass --ca FILE so the server's certificate is pinned`);
  }
  return { natsUrl, internalIdFile, ca };
}

/** Connects with the node's internal identity and binds the existing buckets (never creates them). */
export async function openOperatorStore(f: OpFlags, replicas = 1): Promise<{ nc: NatsConnection; store: Store }> {
  const id = await loadOrCreateIdentityReadOnly(f.internalIdFile);
  const nc = await connectInternal({ servers: f.natsUrl, seed: id.seed, caFile: f.ca, name: 'membershipd operator', timeoutMs: 5000 });
  try {
    return { nc, store: await bindOperatorStore(nc, f.natsUrl, replicas) };
  } catch (err) {
    await nc.close().catch(() => {});
    throw err;
  }
}

/** Binds the existing control-plane buckets on an internal-identity connection (never creates them); `where` names the server in the error. */
export async function bindOperatorStore(nc: NatsConnection, where: string, replicas = 1): Promise<Store> {
  const store = await openStore(nc, { replicas, bindOnly: true });
  try {
    await store.jsm.streams.info(`KV_${BUCKETS.users}`);
  } catch (cause) {
    throw new OperatorError(`no control-plane buckets at ${where}: is membershipd running there?`, { cause });
  }
  return store;
}

/** The identity must exist already: an operator command never mints a new one. */
async function loadOrCreateIdentityReadOnly(file: string) {
  try {
    await access(file);
  } catch (cause) {
    throw new OperatorError(`${file}: no internal identity (pass --internal-id-file or --state-dir of the node)`, { cause });
  }
  return loadOrCreateIdentity(file);
}

/** Runs a command body, turning known errors into a one-line message and exit 1. */
export async function runOp(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const e = err as Error & { cause?: Error };
    process.stderr.write(`membershipd ${name}: ${e.message}${e.cause?.message ? ` (${e.cause.message})` : ''}\n`);
    return 1;
  }
}
