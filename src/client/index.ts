// The membershipd API client: signing, the typed client, key helpers.
export { UnibusClient, ApiClientError, type ClientOptions, type FetchLike, type RawResult } from './client.js';
export { signHeaders, newNonce } from './sign.js';
export type * from './types.js';
export { rawPublicKey, nkeyFromRaw, nkeySeedFromRaw } from '../daemon/auth/ed25519.js';
