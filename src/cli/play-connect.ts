// One transport per node for the whole run: ssh (key auth, strict known_hosts)
// or local.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { NodeSpec } from '../inventory/types.js';
import { TransportError } from '../transport/errors.js';
import { LocalTransport } from '../transport/local.js';
import { SshTransport } from '../transport/ssh.js';
import type { Transport } from '../transport/types.js';

export interface ConnectOptions {
  knownHostsFile: string;
  projectDir: string;
  /** --accept-new-host-keys: record the key of a host not yet in known_hosts (a changed key is still refused). */
  acceptNew: boolean;
}

function expand(p: string, projectDir: string): string {
  const q = p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
  return isAbsolute(q) ? q : resolve(projectDir, q);
}

function identityOf(node: NodeSpec, projectDir: string): string {
  if (node.identity_file) return expand(node.identity_file, projectDir);
  for (const k of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const p = join(homedir(), '.ssh', k);
    if (existsSync(p)) return p;
  }
  throw new TransportError(node.name, 'no identity_file in the inventory and no ~/.ssh/id_ed25519, id_ecdsa or id_rsa');
}

export async function connectNode(node: NodeSpec, o: ConnectOptions): Promise<Transport> {
  if (node.connection === 'local') return new LocalTransport(node.name);
  return SshTransport.connect({
    name: node.name,
    host: node.host,
    port: node.port,
    user: node.user,
    identityFile: identityOf(node, o.projectDir),
    knownHostsFile: o.knownHostsFile,
    acceptNew: o.acceptNew,
  });
}
