import type { Secret } from '../secret.js';

/** One process to run on a host. argv is never joined by a shell unless argv[0] is 'sh' -c. */
export interface ExecRequest {
  argv: string[];
  /** Sent on stdin. A Secret is how secrets travel: never in argv. */
  stdin?: string | Buffer | Secret;
  /** Run through sudo (non-interactive) when the connecting user is not root. */
  sudo?: boolean;
  cwd?: string;
  /** Bounded: every exec has a timeout (default 60 s). */
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface PutOptions {
  /** File mode, e.g. 0o600. Applied before the file appears at its path. */
  mode?: number;
  owner?: string;
  group?: string;
  sudo?: boolean;
}

/**
 * How unibus reaches a host. Implementations: ssh (node-ssh), local (zx), and a
 * recording fake for tests. `put` is atomic: it writes a temp file in the same
 * folder, syncs it, sets mode/owner, then renames it over the target, so a
 * killed run never leaves a half-written file.
 */
export interface Transport {
  readonly host: string;
  exec(req: ExecRequest): Promise<ExecResult>;
  put(path: string, content: Buffer | Secret, opts?: PutOptions): Promise<void>;
  /** The file's bytes, or null when it does not exist. */
  get(path: string, opts?: { sudo?: boolean }): Promise<Buffer | null>;
  close(): Promise<void>;
}

/**
 * The same transport, never through sudo: for a host whose login user does
 * everything itself (a systemd-user node, which gets no root). Commands and
 * files that would have asked for sudo run as that user.
 */
export function withoutSudo(t: Transport): Transport {
  return {
    get host() {
      return t.host;
    },
    exec: (req) => t.exec({ ...req, sudo: false }),
    put: (path, content, opts) => t.put(path, content, { ...opts, sudo: false }),
    get: (path, opts) => t.get(path, { ...opts, sudo: false }),
    close: () => t.close(),
  };
}
