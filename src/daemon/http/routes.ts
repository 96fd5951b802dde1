// The control plane as membershipd mounts it: main.ts imports this module and
// calls setupControlPlane(node) once the node is ready; the app then calls
// registerRoutes(router) to add every /v1 route.
//
// Every route is signed (see auth/verify.ts) and answers JSON; errors are
// {"error": {"code", "message"}} with the codes in src/protocol/errors.ts.
//   GET  /v1/users/me                       the caller
//   GET  /v1/users                          all users (admin)
//   POST /v1/users {handle, sign_pub, box_pub?, role}   add (admin; idempotent)
//   GET  /v1/users/:handle                  self or admin
//   POST /v1/users/:handle/revoke           admin; never deletes
//   POST /v1/rooms {name}                   create; the caller owns it
//   GET  /v1/rooms                          rooms the caller is in
//   GET  /v1/rooms/:room                    members (with box keys), epoch
//   POST /v1/rooms/:room/members {handle}   owner or admin
//   DELETE /v1/rooms/:room/members/:handle  owner or admin; a new epoch is then required
//   PUT  /v1/rooms/:room/keys {epoch, keys: {handle: base64}}   members
//   GET  /v1/rooms/:room/keys/:epoch        the caller's own sealed key
//   PUT  /v1/rooms/:room/blobs (raw bytes, <= 1 MiB)  -> {sha256, size}
//   GET  /v1/rooms/:room/blobs/:sha256      members; checked against its hash
import { join } from 'node:path';
import type { Router } from 'h3';
import type { ControlNode } from '../node.js';
import type { ControlPlane } from './app.js';
import { CONTROL_STREAMS, openStoreWithRetry } from '../store/buckets.js';
import { QuorumGuard } from '../store/quorum.js';
import { ClockWatch, listClockKeys } from '../store/clock.js';
import { startRepairs } from '../store/repair.js';
import { HEALTH_BUCKET } from '../node.js';
import { ShiftedClock, TEST_CLOCK_FILE, testClockOffset } from '../clock.js';
import { misbehavioursOf } from '../misbehave.js';
import { Kvm } from '@nats-io/kv';
import { followStore, unfollowStore } from '../store/follow.js';
import { nonceHistoryOf } from '../store/nonces.js';
import { AclWatcher } from '../auth/acl-watch.js';
import { allowlistCacheFile } from '../auth/allowlist.js';
import type { V1Deps } from './v1-common.js';
import { registerUserRoutes } from './v1-users.js';
import { registerRoomRoutes } from './v1-rooms.js';
import { registerBlobRoutes } from './v1-blobs.js';

export type { V1Deps } from './v1-common.js';

/** Adds every /v1 route (full paths) to an h3 router. */
export function registerV1Routes(router: Router, deps: V1Deps): void {
  registerUserRoutes(router, deps);
  registerRoomRoutes(router, deps);
  registerBlobRoutes(router, deps);
}

export async function setupControlPlane(node: ControlNode): Promise<ControlPlane> {
  const log = (line: string) => process.stderr.write(`membershipd: control plane: ${line}\n`);
  // The buckets are opened (or placed, on a first start) while the readiness
  // write runs; nothing is served before that write succeeded.
  const t0 = Date.now();
  const retried = (err: Error, attempt: number) => {
    if (attempt <= 3 || attempt % 10 === 0) log(`opening the buckets: attempt ${attempt} failed after ${Date.now() - t0} ms (${err.message}); retrying`);
  };
  const [store] = await Promise.all([openStoreWithRetry(node.nc, { replicas: node.options.kvReplicas, nonceStore: node.options.nonceStore }, undefined, retried), node.ready]);
  node.watchStreams(CONTROL_STREAMS);
  // Every signed request reads its user and, in a room, the members: from
  // local copies under a leader barrier at most 100 ms old (store/follow.ts).
  followStore(store, { log });
  // Beats keep the nonce history old enough to serve; a history lost with
  // every replica is told in the log, as each refused request tells it.
  const history = nonceHistoryOf(store, log);
  history.start();
  void history.confirm().catch((err) => log(`signed requests refused for now: ${(err as Error).message}`));
  const guard = new QuorumGuard(store);
  await guard.start();
  // The node's skew against the cluster's clock, measured on the health bucket the readiness write made.
  const offset = testClockOffset(process.env);
  if (offset) log(`TEST ONLY: this node's clock is shifted by ${offset} ms (MEMBERSHIPD_TEST_CLOCK_OFFSET_MS)`);
  const shifted = new ShiftedClock(offset, join(node.options.stateDir, TEST_CLOCK_FILE), log);
  shifted.start();
  const now = shifted.now;
  const misbehave = misbehavioursOf(process.env);
  if (misbehave.size) log(`TEST ONLY: breaking promises on purpose: ${[...misbehave].join(', ')} (MEMBERSHIPD_TEST_MISBEHAVE)`);
  // Rooms left half-written by a request that stopped between its writes are rolled forward (store/repair.ts).
  const stopRepairs = startRepairs(store, log);
  const clock = new ClockWatch(await new Kvm(store.nc).open(HEALTH_BUCKET), () => listClockKeys(store.jsm, HEALTH_BUCKET), node.options.serverName, now, log);
  clock.start();
  const acl = new AclWatcher(store, {
    apply: (users) => node.setAllowlist(users),
    cacheFile: allowlistCacheFile(node.options.stateDir),
    log,
  });
  // The first sync needs quorum; the node was ready (a replicated write) just
  // before. The API does not wait for it: nats-server enforces the cached
  // allowlist meanwhile, and the API reads users from the buckets itself.
  void acl.start().catch((err) => log(`first allowlist sync failed, will retry: ${(err as Error).message}`));
  return {
    registerRoutes: (router) => registerV1Routes(router, { store, guard, clock, now, misbehave, log }),
    clockState: () => clock.state,
    close: async () => {
      clock.stop();
      shifted.stop();
      stopRepairs();
      acl.stop();
      guard.stop();
      history.stop();
      unfollowStore(store);
    },
  };
}
