// Where every file lives. One place, so plan, apply, the CLI and tests agree.
import { join } from 'node:path';

export const VALIDITY = {
  caDays: 3650,
  // CA/Browser baseline maximum for a TLS leaf.
  leafDays: 397,
  renewWithinDays: 30,
  // Tolerate a node's clock running a little behind the controller's.
  backdateMs: 60 * 60 * 1000,
} as const;

export function secretFiles(secretsDir: string) {
  return {
    clientCaCert: join(secretsDir, 'client-ca.pem'),
    clientCaKey: join(secretsDir, 'client-ca.key'),
    routeCaCert: join(secretsDir, 'route-ca.pem'),
    routeCaKey: join(secretsDir, 'route-ca.key'),
    oldRouteCaCert: join(secretsDir, 'route-ca.old.pem'),
    oldRouteCaKey: join(secretsDir, 'route-ca.old.key'),
    clusterPass: join(secretsDir, 'cluster.pass'),
    adminSeed: join(secretsDir, 'admin.seed'),
    adminPub: join(secretsDir, 'admin.pub'),
  };
}

export function nodeFiles(outDir: string, node: string) {
  const d = join(outDir, node);
  return {
    dir: d,
    clientCa: join(d, 'ca.pem'),
    serverCert: join(d, 'server.pem'),
    serverKey: join(d, 'server.key'),
    routeCaBundle: join(d, 'route-ca.pem'),
    routeCert: join(d, 'route.pem'),
    routeKey: join(d, 'route.key'),
    internalSeed: join(d, 'internal.nk'),
    internalPub: join(d, 'internal.pub'),
    // The node's system-account identity (nats-server's $SYS): the controller's peer removal (play replace-node).
    systemSeed: join(d, 'system.nk'),
    systemPub: join(d, 'system.pub'),
  };
}
