import { createServer } from 'node:net';

/** Every port handed out in this process: a probed port can come back twice. */
const handedOut = new Set<number>();

function probe(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A TCP port that was free on `host` a moment ago (listen on 0, read it,
 * close), never one this process was given before: a server given the same
 * port twice (clients and routes) dies at start.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = await probe(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on ${host} that this process was not given already (50 tries)`);
}
