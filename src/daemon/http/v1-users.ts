// /v1/users: admins add, revoke and list; everyone reads themselves.
import type { Router } from 'h3';
import { ApiError } from '../../protocol/errors.js';
import { checkHandle, checkKnownFields } from '../../protocol/model.js';
import { addUser, getUser, listUsers, revokeUser } from '../store/users.js';
import { requireAdmin, signed, type V1Deps } from './v1-common.js';

export function registerUserRoutes(router: Router, deps: V1Deps): void {
  const { store } = deps;
  router.get('/v1/users/me', signed(deps, async (c) => c.user));

  router.get(
    '/v1/users',
    signed(deps, async (c) => {
      requireAdmin(c.user);
      return { users: await listUsers(store) };
    }),
  );

  router.post(
    '/v1/users',
    signed(deps, async (c) => {
      requireAdmin(c.user);
      const o = c.json();
      checkKnownFields(o, ['handle', 'sign_pub', 'box_pub', 'role']);
      // addUser checks the fields itself: the same rule for every caller.
      const r = await addUser(store, o);
      c.event.node.res.statusCode = r.created ? 201 : 200;
      return r;
    }),
  );

  router.get(
    '/v1/users/:handle',
    signed(deps, async (c) => {
      const h = checkHandle(c.param('handle'));
      if (h !== c.user.handle) requireAdmin(c.user);
      const u = await getUser(store, h);
      if (!u) throw new ApiError('not_found', `no user ${h}`);
      return u;
    }),
  );

  router.post(
    '/v1/users/:handle/revoke',
    signed(deps, async (c) => {
      requireAdmin(c.user);
      const h = checkHandle(c.param('handle'));
      if (h === c.user.handle) throw new ApiError('bad_request', 'handle: an admin cannot revoke themselves (ask another admin)');
      return revokeUser(store, h);
    }),
  );
}
