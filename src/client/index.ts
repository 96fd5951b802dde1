// The membershipd API client: signing, the typed client, key helpers.
export { UnibusClient, ApiClientError, type ClientOptions, type FetchLike, type RawResult } from './client.js';
export { signHeaders, newNonce } from '../protocol/sign.js';
export type * from './types.js';
export { rawPublicKey, nkeyFromRaw, nkeySeedFromRaw } from '../protocol/ed25519.js';
