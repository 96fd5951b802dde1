// Start-time refusals that need IO: the route secret's source, CA files,
// the nats-server version and free ports. All run before anything starts.
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { Secret } from '../secret.js';
import { FlagError, type NodeOptions } from './flags.js';
import { checkNatsVersion } from './nats/validate.js';

export interface Preflight {
  routePass?: Secret;
  natsVersion?: string;
}

async function readRouteSecret(o: NodeOptions, env: NodeJS.ProcessEnv): Promise<Secret | undefined> {
  if (o.clusterPassFile) {
    let st;
    try {
      st = await stat(o.clusterPassFile);
    } catch (cause) {
      throw new FlagError(`--cluster-pass-file ${o.clusterPassFile}: cannot read it`, { cause });
    }
    if ((st.mode & 0o077) !== 0) {
      throw new FlagError(`--cluster-pass-file ${o.clusterPassFile}: mode ${(st.mode & 0o777).toString(8)} is too open (expected 600)`);
    }
    const pass = (await readFile(o.clusterPassFile, 'utf8')).trim();
    if (!pass) throw new FlagError(`--cluster-pass-file ${o.clusterPassFile}: empty`);
    return new Secret(pass);
  }
  if (env.UNIBUS_CLUSTER_PASS) return new Secret(env.UNIBUS_CLUSTER_PASS);
  return undefined;
}

/** Fingerprints of every certificate in a PEM bundle. */
async function fingerprints(file: string, flag: string): Promise<Set<string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new FlagError(`${flag} ${file}: cannot read it`, { cause });
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new FlagError(`${flag} ${file}: no PEM certificate in it`);
  return new Set(blocks.map((b) => new X509Certificate(b).fingerprint256));
}

export function checkPortFree(host: string, port: number, flag: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (cause) =>
      reject(new FlagError(`${flag} ${port}: port in use on ${host} (${(cause as NodeJS.ErrnoException).code})`, { cause })),
    );
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve()));
  });
}

/** Throws FlagError for the first refusal; returns what later steps need. */
export async function runPreflight(o: NodeOptions, env: NodeJS.ProcessEnv = process.env): Promise<Preflight> {
  const routePass = await readRouteSecret(o, env);
  if (o.routeTls && o.tls?.ca) {
    const route = await fingerprints(o.routeTls.ca, '--route-tls-ca');
    const client = await fingerprints(o.tls.ca, '--tls-ca');
    // One CA for both planes would let any data-plane certificate join the cluster.
    if ([...route].some((f) => client.has(f))) {
      throw new FlagError('--route-tls-ca equals the client CA (--tls-ca): routes need their own CA');
    }
  }
  let natsVersion: string | undefined;
  if (!o.natsUrl) {
    try {
      natsVersion = await checkNatsVersion(o.natsServerBin);
    } catch (cause) {
      throw new FlagError((cause as Error).message, { cause });
    }
  }
  await checkPortFree(o.bind, o.httpPort, '--http-port');
  if (!o.natsUrl) {
    await checkPortFree(o.bind, o.natsPort, '--nats-port');
    if (o.clusterName) await checkPortFree(o.bind, o.clusterPort, '--cluster-port');
  }
  return { routePass, natsVersion };
}

/** A free loopback port for the child's private monitor. */
export function pickLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
