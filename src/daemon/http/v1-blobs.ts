// /v1/rooms/:room/blobs: members put raw bytes and get them back by sha256.
import { setResponseHeader, type Router } from 'h3';
import { BLOB_MAX_BYTES, getBlob, putBlob } from '../store/blobs.js';
import { checkRoom } from '../../protocol/model.js';
import { requireMember } from '../store/rooms.js';
import { signed, type V1Deps } from './v1-common.js';

export function registerBlobRoutes(router: Router, deps: V1Deps): void {
  const { store } = deps;
  router.put(
    '/v1/rooms/:room/blobs',
    signed(
      deps,
      async (c) => {
        const name = checkRoom(c.param('room'));
        await requireMember(store, name, c.user, false, c.members);
        const r = await putBlob(store, name, c.body, c.user.handle);
        c.event.node.res.statusCode = 201;
        return r;
      },
      { maxBody: BLOB_MAX_BYTES, prefetchRoom: true },
    ),
  );

  router.get(
    '/v1/rooms/:room/blobs/:sha',
    signed(deps, async (c) => {
      const name = checkRoom(c.param('room'));
      await requireMember(store, name, c.user, false, c.members);
      const data = await getBlob(store, name, c.param('sha'));
      setResponseHeader(c.event, 'content-type', 'application/octet-stream');
      setResponseHeader(c.event, 'x-unibus-sha256', c.param('sha'));
      return Buffer.from(data);
    }, { prefetchRoom: true }),
  );
}
