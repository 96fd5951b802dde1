// Test fixtures for the control plane: an internal identity, store connections
// per node, and users with fresh Ed25519 keys.
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { nkeyAuthenticator } from '@nats-io/nats-core';
import { createUser } from '@nats-io/nkeys';
import { openStoreWithRetry, type NonceStore, type Store } from '../../src/daemon/store/buckets.js';
import { rawPublicKey } from '../../src/protocol/ed25519.js';

export interface Internal {
  publicKey: string;
  seed: Uint8Array;
}

export function makeInternal(): Internal {
  const kp = createUser();
  return { publicKey: kp.getPublicKey(), seed: kp.getSeed() };
}

export async function connectInternal(url: string | string[], id: Internal): Promise<NatsConnection> {
  return connect({ servers: url, authenticator: nkeyAuthenticator(id.seed), timeout: 5000, maxReconnectAttempts: -1, reconnectTimeWait: 250, ignoreClusterUpdates: true });
}

export async function openTestStore(nc: NatsConnection, replicas: number, nonceStore?: NonceStore): Promise<Store> {
  return openStoreWithRetry(nc, { replicas, nonceStore }, 60_000);
}

export interface TestUser {
  handle: string;
  seed: Uint8Array;
  sign_pub: string;
  box_pub: string;
}

export function makeUser(handle: string): TestUser {
  const seed = randomBytes(32);
  return { handle, seed, sign_pub: rawPublicKey(seed).toString('hex'), box_pub: randomBytes(32).toString('hex') };
}
