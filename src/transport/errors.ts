import { UnibusError } from '../errors.js';

/** A host could not be reached or the connection broke. The executor counts the host unreachable. */
export class TransportError extends UnibusError {
  constructor(
    readonly host: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${host}: ${message}`, options);
  }
}

/** A command ran longer than its bound and was killed. */
export class ExecTimeoutError extends TransportError {
  constructor(host: string, readonly argv: string[], readonly timeoutMs: number) {
    super(host, `command timed out after ${timeoutMs} ms and was killed: ${argv[0] ?? ''}`);
  }
}

/** An atomic put failed; the target was left as it was. */
export class PutError extends TransportError {}

/** The host's key is unknown or does not match known_hosts: the connection is refused. */
export class HostKeyError extends TransportError {
  constructor(
    host: string,
    readonly address: string,
    readonly port: number,
    readonly knownHostsFile: string,
    readonly kind: 'unknown' | 'mismatch' | 'revoked',
    detail: string,
  ) {
    super(host, `host key ${kind === 'unknown' ? 'unknown' : kind === 'mismatch' ? 'MISMATCH' : 'revoked'} for ${address} port ${port} (known_hosts ${knownHostsFile}): ${detail}`);
  }
}
