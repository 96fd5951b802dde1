// An h3 app with only the /v1 routes, driven through its fetch handler.
import { createApp, createRouter, toWebHandler } from 'h3';
import { registerV1Routes, type V1Deps } from '../../src/daemon/http/routes.js';
import { UnibusClient } from '../../src/client/client.js';
import type { TestUser } from './control-plane.js';

export function makeV1Handler(deps: V1Deps): (req: Request) => Promise<Response> {
  const app = createApp();
  const router = createRouter();
  registerV1Routes(router, deps);
  app.use(router);
  return toWebHandler(app);
}

export function clientFor(u: TestUser, fetch: (req: Request) => Promise<Response>, baseUrl = 'http://unibus.test'): UnibusClient {
  return new UnibusClient({ baseUrl, handle: u.handle, seed: u.seed, fetch });
}
