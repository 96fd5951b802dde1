// Named errors of the PKI layer. Each says which file or node is at fault and
// what the operator can do, and carries the underlying error as `cause`.
import { UnibusError } from '../errors.js';

export class PkiError extends UnibusError {}

/** A CA certificate exists but its key does not, and a leaf must be signed with it. */
export class MissingCaKeyError extends PkiError {
  constructor(readonly certFile: string, readonly keyFile: string, readonly needBy: string[], options?: { cause?: unknown }) {
    super(
      `${keyFile}: CA key missing, but ${certFile} exists and must sign ${needBy.join(', ')}; ` +
        `restore the key (the CA is reused so that existing clients keep trusting it), or move both files away to mint a new CA`,
      options,
    );
  }
}

/** A certificate or key that does not parse, or a key that does not belong to its certificate. */
export class BadKeyPairError extends PkiError {
  constructor(readonly certFile: string, readonly keyFile: string, readonly problem: string, options?: { cause?: unknown }) {
    super(`${certFile} / ${keyFile}: ${problem}; fix or remove the pair before minting`, options);
  }
}

/** Node data that is incomplete or still holds a template placeholder. */
export class NodeDataError extends PkiError {
  constructor(readonly node: string, readonly field: string, readonly problem: string, readonly expected: string) {
    super(`node ${node || '(unnamed)'}: ${field}: ${problem} (expected ${expected})`);
  }
}

/** A rotation step asked for in the wrong state (e.g. a second rotation before the old CA was dropped). */
export class RotationStateError extends PkiError {}
