// One transport per node for the whole run: ssh (key auth, strict known_hosts)
// or local.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { NodeSpec } from '../inventory/types.js';
import { TransportError } from '../transport/errors.js';
import { SshTransport } from '../transport/ssh.js';
import type { ExecRequest, PutOptions, Transport } from '../transport/types.js';
import type { Secret } from '../secret.js';

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

/**
 * The local transport, loaded on first use: it brings zx, whose load time a
 * run over ssh alone (most runs) need not pay.
 */
export class LazyLocalTransport implements Transport {
  #t: Promise<Transport> | undefined;
  constructor(readonly host: string) {}
  #get(): Promise<Transport> {
    return (this.#t ??= import('../transport/local.js').then((m) => new m.LocalTransport(this.host)));
  }
  async exec(req: ExecRequest) {
    return (await this.#get()).exec(req);
  }
  async put(path: string, content: Buffer | Secret, opts?: PutOptions) {
    return (await this.#get()).put(path, content, opts);
  }
  async get(path: string, opts?: { sudo?: boolean }) {
    return (await this.#get()).get(path, opts);
  }
  async close() {
    if (this.#t) await (await this.#t).close();
  }
}

export async function connectNode(node: NodeSpec, o: ConnectOptions): Promise<Transport> {
  if (node.connection === 'local') return new LazyLocalTransport(node.name);
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
