// Free TCP ports for servers started by tests and benches.
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

/** A port free on every one of the given addresses (none of `avoid`), for a server on each of them. */
export async function freePortOn(hosts: string[], avoid: Set<number>): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = await probe(hosts[0]);
    if (avoid.has(port)) continue;
    const okAll = await Promise.all(hosts.slice(1).map((h) => new Promise<boolean>((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(port, h, () => s.close(() => res(true)));
    })));
    if (okAll.every(Boolean)) return port;
  }
  throw new Error('no free port found on ' + hosts.join(', '));
}
