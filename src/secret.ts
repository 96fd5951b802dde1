import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

const SECRET = Symbol('unibus.secret');

/**
 * A secret value (cluster password, private key, nkey seed). It never prints
 * in clear: String(), JSON and util.inspect all give the redacted form
 * `<redacted sha256:ab12cd34>`. Code that must send it (over stdin, into a
 * 0600 file) calls `reveal()` explicitly.
 */
export class Secret {
  readonly [SECRET] = true;
  readonly #value: Buffer;
  constructor(value: string | Buffer) {
    this.#value = Buffer.isBuffer(value) ? Buffer.from(value) : Buffer.from(value, 'utf8');
  }
  reveal(): Buffer {
    return Buffer.from(this.#value);
  }
  revealString(): string {
    return this.#value.toString('utf8');
  }
  /** Short fingerprint: the first 8 hex digits of the value's sha256. */
  fingerprint(): string {
    return createHash('sha256').update(this.#value).digest('hex').slice(0, 8);
  }
  toString(): string {
    return `<redacted sha256:${this.fingerprint()}>`;
  }
  toJSON(): string {
    return this.toString();
  }
  [inspect.custom](): string {
    return this.toString();
  }
}

export function isSecret(v: unknown): v is Secret {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[SECRET] === true;
}

export function redact(v: unknown): string {
  return isSecret(v) ? v.toString() : String(v);
}
