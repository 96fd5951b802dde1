import { isAbsolute } from 'node:path';
import { isSecret, type Secret } from '../secret.js';
import { ModuleArgsError } from './errors.js';

// Conversions of args that ajv has already checked against the module's
// schema (define.ts): what a schema cannot say (an absolute path, a bound
// on seconds) or a value to normalise (a mode written as digits). Where the
// schema alone settles a value, plan() uses the typed arg as it is.

/**
 * A file mode. YAML 1.2 reads `mode: 0644` as the decimal number 644, so a
 * number is taken as the octal digits it is written with (644 and 0644 both
 * mean 0o644); a string may be '0644', '644' or '0o644'.
 */
export function parseMode(module: string, field: string, v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const text = typeof v === 'number' ? String(v) : v.replace(/^0o/, '');
  if (!/^[0-7]{1,4}$/.test(text)) {
    throw new ModuleArgsError(module, field, `${JSON.stringify(v)} is not a file mode (expected octal like '0644')`);
  }
  return parseInt(text, 8);
}

/** A path on the host: absolute, so no command ever depends on a login folder. */
export function hostPath(module: string, field: string, p: string): string {
  if (!isAbsolute(p)) throw new ModuleArgsError(module, field, `${JSON.stringify(p)} is not an absolute path`);
  return p;
}

/** A number of seconds (a number, or a string of one), bounded so that every wait has a limit. */
export function parseSeconds(module: string, field: string, v: number | string | undefined, dflt: number, max = 3600): number {
  if (v === undefined) return dflt;
  const n = typeof v === 'string' ? Number(v) : v;
  if (!Number.isFinite(n) || n < 0 || n > max) {
    throw new ModuleArgsError(module, field, `expected seconds between 0 and ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/**
 * Text that may be a Secret (stdin, copy's content): a Secret comes from a
 * secret variable at render time and no JSON schema can name it, so the
 * schema leaves these open and this is their check. A number or a boolean is
 * written as text.
 */
export function textOrSecret(module: string, field: string, v: unknown): string | Secret {
  if (isSecret(v) || typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ModuleArgsError(module, field, `expected a string, got ${v === null ? 'null' : typeof v}`);
}


/** The JSON Schema fragment for a mode argument. */
export const modeSchema = { type: ['string', 'integer'] } as const;
