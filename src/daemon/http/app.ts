// The control-plane HTTP app. createControlApp returns a plain h3 app: tests
// drive it through toWebHandler (no socket); listenControlApp serves it.
import { createApp, createError, createRouter, toNodeListener, toWebHandler, type App, type Router } from 'h3';
import { listen, type Listener } from 'listhen';
import { createHealthzHandler, type HealthSource } from './healthz.js';
import type { ClockState } from '../store/clock.js';

/**
 * What the control plane (users, rooms, keys, blobs) plugs in. The module
 * src/daemon/http/routes.ts exports `setupControlPlane(node)` returning this;
 * membershipd calls it once its node is ready and mounts the routes under /v1.
 */
export interface ControlPlane {
  /** Adds the /v1 routes to the router (paths given in full, e.g. '/v1/users'). */
  registerRoutes(router: Router): void;
  /** The node's clock against the cluster's (store/clock.ts): /healthz is 503 while it is off. */
  clockState?(): ClockState;
  close?(): Promise<void>;
}

export interface ControlAppDeps {
  node: HealthSource;
  /** A promise while the node is still getting ready: /v1 answers 503 until it resolves. */
  plane?: ControlPlane | Promise<ControlPlane | undefined>;
}

export function createControlApp(deps: ControlAppDeps): App {
  // Errors use h3's JSON error shape; the control plane sets its own codes.
  const app = createApp();
  const router = createRouter();
  router.get('/healthz', createHealthzHandler(deps.node));
  app.use(router);
  if (deps.plane instanceof Promise) {
    let state: 'starting' | 'up' | 'failed' = 'starting';
    deps.plane.then(
      (plane) => {
        plane?.registerRoutes(router);
        state = 'up';
      },
      () => {
        state = 'failed';
      },
    );
    // Routes added to the router later are matched by it; until then /v1 says why not.
    app.use('/v1', () => {
      if (state !== 'up') throw createError({ statusCode: 503, statusMessage: state === 'starting' ? 'starting' : 'unavailable', message: `control plane ${state}` });
    });
  } else {
    deps.plane?.registerRoutes(router);
  }
  return app;
}

/** A fetch-style handler for tests: `await handler(new Request('http://x/healthz'))`. */
export function toFetchHandler(app: App): (req: Request) => Promise<Response> {
  return toWebHandler(app);
}

/** Serves the app with listhen, every extra (URL banner, QR, clipboard, tunnel, exit hooks) off. */
export async function listenControlApp(app: App, host: string, port: number): Promise<Listener> {
  const loopback = host === 'localhost' || host.startsWith('127.') || host === '::1';
  return listen(toNodeListener(app), {
    port,
    hostname: host,
    // public must be true for 0.0.0.0 or listhen rewrites the host to localhost.
    public: !loopback,
    showURL: false,
    open: false,
    clipboard: false,
    qr: false,
    tunnel: false,
    isProd: true,
    // membershipd handles SIGTERM itself (lame duck); listhen must not exit the process.
    autoClose: false,
  });
}
