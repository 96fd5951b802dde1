// One transport per node for the whole run: ssh (key auth, strict known_hosts)
// or local. Paths a node names (identity file, known_hosts) are resolved here:
// `~/` to the controller user's home, a relative path against the project.
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { SshTransport } from './ssh.js';
import type { ExecRequest, PutOptions, Transport } from './types.js';
import type { Secret } from '../secret.js';
import { expandHome } from '../util/format.js';

/** What connecting needs of a node (the inventory's NodeSpec is one). */
export interface NodeConnection {
  name: string;
  connection: 'ssh' | 'local';
  host: string;
  port: number;
  user: string;
  identity_file?: string;
}

export interface ConnectOptions {
  /** The node's known_hosts setting (absent: ~/.ssh/known_hosts). */
  knownHosts?: string;
  projectDir: string;
  /** --accept-new-host-keys: record the key of a host not yet in known_hosts (a changed key is still refused). */
  acceptNew: boolean;
}

function expand(p: string, projectDir: string): string {
  const q = expandHome(p);
  return isAbsolute(q) ? q : resolve(projectDir, q);
}

/** The known_hosts file a node is checked against. */
export function knownHostsFileOf(knownHosts: string | undefined, projectDir: string): string {
  return knownHosts ? expand(knownHosts, projectDir) : join(homedir(), '.ssh', 'known_hosts');
}

/**
 * The local transport, loaded on first use: it brings zx, whose load time a
 * run over ssh alone (most runs) need not pay.
 */
export class LazyLocalTransport implements Transport {
  #t: Promise<Transport> | undefined;
  constructor(readonly host: string) {}
  #get(): Promise<Transport> {
    return (this.#t ??= import('./local.js').then((m) => new m.LocalTransport(this.host)));
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

export async function connectNode(node: NodeConnection, o: ConnectOptions): Promise<Transport> {
  if (node.connection === 'local') return new LazyLocalTransport(node.name);
  return SshTransport.connect({
    name: node.name,
    host: node.host,
    port: node.port,
    user: node.user,
    // Absent: the transport takes the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa.
    ...(node.identity_file ? { identityFile: expand(node.identity_file, o.projectDir) } : {}),
    knownHostsFile: knownHostsFileOf(o.knownHosts, o.projectDir),
    acceptNew: o.acceptNew,
  });
}
