import { isAbsolute } from 'node:path';
import { ModuleArgsError } from './errors.js';

// Argument readers shared by modules. The executor validates args against each
// module's JSON Schema first; these catch what a schema cannot say and give
// modules typed values.

/**
 * A file mode. YAML 1.2 reads `mode: 0644` as the decimal number 644, so a
 * number is taken as the octal digits it is written with (644 and 0644 both
 * mean 0o644); a string may be '0644', '644' or '0o644'.
 */
export function readMode(module: string, field: string, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.replace(/^0o/, '') : null;
  if (text === null || !/^[0-7]{1,4}$/.test(text)) {
    throw new ModuleArgsError(module, field, `${JSON.stringify(v)} is not a file mode (expected octal like '0644')`);
  }
  return parseInt(text, 8);
}

export function readString(module: string, field: string, v: unknown, required: true): string;
export function readString(module: string, field: string, v: unknown, required?: false): string | undefined;
export function readString(module: string, field: string, v: unknown, required = false): string | undefined {
  if (v === undefined || v === null) {
    if (required) throw new ModuleArgsError(module, field, 'is required (expected a string)');
    return undefined;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string') throw new ModuleArgsError(module, field, `expected a string, got ${typeof v}`);
  return v;
}

/** A path on the host: absolute, so no command ever depends on a login folder. */
export function readHostPath(module: string, field: string, v: unknown): string {
  const p = readString(module, field, v, true);
  if (!isAbsolute(p)) throw new ModuleArgsError(module, field, `${JSON.stringify(p)} is not an absolute path`);
  return p;
}

export function readBool(module: string, field: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'yes' || v === 'true') return true;
  if (v === 'no' || v === 'false') return false;
  throw new ModuleArgsError(module, field, `expected true or false, got ${JSON.stringify(v)}`);
}

export function readEnum<T extends string>(module: string, field: string, v: unknown, allowed: readonly T[], dflt: T): T {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new ModuleArgsError(module, field, `${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
}

export function readStringList(module: string, field: string, v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.map(String);
  throw new ModuleArgsError(module, field, 'expected a list of strings');
}

/** A number of seconds, bounded so that every wait has a limit. */
export function readSeconds(module: string, field: string, v: unknown, dflt: number, max = 3600): number {
  if (v === undefined || v === null) return dflt;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > max) {
    throw new ModuleArgsError(module, field, `expected seconds between 0 and ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** chown's spec: owner:group, owner alone, or :group alone (never `owner:`, which means the login group). */
export function chownSpec(owner?: string, group?: string): string | undefined {
  if (owner && group) return `${owner}:${group}`;
  if (owner) return owner;
  if (group) return `:${group}`;
  return undefined;
}

/** The JSON Schema fragment for a mode argument. */
export const modeSchema = { type: ['string', 'integer'] } as const;
