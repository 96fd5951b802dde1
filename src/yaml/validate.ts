// JSON Schema validation (ajv) of a YAML source, with every error mapped to
// file:line:col of the offending node: the key for an unknown key, the value
// for a wrong type, the enclosing mapping for a missing field.
//
// Public API:
//   compileSchema(schema)                  -> ValidateFunction (allErrors, defaults applied)
//   validateSource(src, validate, data?, prefix?) -> ConfigError[] (empty when valid);
//     prefix: where `data` sits in the file when it is a part of the document;
//     ignore: drops errors the caller knows to be premature (templated values)
//   findPlaceholders(src, data?)           -> ConfigError[] for '<SOMETHING>' values left in
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { ConfigError } from '../errors.js';
import { configErrorAt, pointerToPath, type DataPath, type YamlSource } from './source.js';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
// Module args are validated as written: filling in defaults would change what the module sees.
const ajvAsWritten = new Ajv({ allErrors: true, useDefaults: false, strict: false, verbose: true });

export function compileSchema(schema: object, opts: { defaults?: boolean } = {}): ValidateFunction {
  return (opts.defaults === false ? ajvAsWritten : ajv).compile(schema);
}

/** Validates `data` (default: src.data, mutated in place with schema defaults). */
export function validateSource(
  src: YamlSource,
  validate: ValidateFunction,
  data: unknown = src.data,
  prefix: DataPath = [],
  ignore?: (e: ErrorObject) => boolean,
): ConfigError[] {
  if (validate(data)) return [];
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  for (const e of validate.errors ?? []) {
    if (ignore?.(e)) continue;
    // anyOf/oneOf report each failing branch and then themselves; the summary is enough.
    if (isBranchNoise(e, validate.errors ?? [])) continue;
    const err = toConfigError(src, e, prefix);
    const key = err.message;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(err);
  }
  return out;
}

/** An error of one failing anyOf/oneOf branch, reported beside the anyOf/oneOf error that sums them up. */
export function isBranchNoise(e: ErrorObject, all: ErrorObject[]): boolean {
  if (e.keyword === 'anyOf' || e.keyword === 'oneOf') return false;
  return all.some(
    (o) => (o.keyword === 'anyOf' || o.keyword === 'oneOf') && e.schemaPath.startsWith(o.schemaPath + '/') && o.instancePath === e.instancePath,
  );
}

function describe(schema: unknown): string | undefined {
  const s = schema as { description?: string } | undefined;
  return s?.description;
}

function toConfigError(src: YamlSource, e: ErrorObject, prefix: DataPath): ConfigError {
  const path: DataPath = [...prefix, ...pointerToPath(e.instancePath)];
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const known = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
      return configErrorAt(src, [...path, String(p.additionalProperty)], `unknown key '${p.additionalProperty}'`, known.length ? `one of: ${known.join(', ')}` : 'no other keys', 'key');
    }
    case 'required':
      return configErrorAt(src, [...path, String(p.missingProperty)], `missing required field '${p.missingProperty}'`, describe((e.parentSchema as { properties?: Record<string, unknown> })?.properties?.[String(p.missingProperty)]));
    case 'type':
      return configErrorAt(src, path, `wrong type: got ${typeName(e.data)}`, describe(e.parentSchema) ?? String(p.type));
    case 'enum':
      return configErrorAt(src, path, `invalid value ${JSON.stringify(e.data)}`, `one of: ${(p.allowedValues as unknown[]).join(', ')}`);
    case 'pattern':
      return configErrorAt(src, path, `invalid value ${JSON.stringify(e.data)}`, describe(e.parentSchema) ?? `a string matching /${p.pattern}/`);
    case 'format':
      return configErrorAt(src, path, `invalid value ${JSON.stringify(e.data)}`, describe(e.parentSchema) ?? `a ${p.format}`);
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return configErrorAt(src, path, `out of range: ${JSON.stringify(e.data)}`, describe(e.parentSchema) ?? `a number ${p.comparison} ${p.limit}`);
    case 'minItems':
    case 'minLength':
      return configErrorAt(src, path, `too short`, describe(e.parentSchema) ?? `at least ${p.limit} ${e.keyword === 'minItems' ? 'items' : 'characters'}`);
    case 'anyOf':
    case 'oneOf':
      return configErrorAt(src, path, `wrong type or shape: got ${typeName(e.data)}`, describe(e.parentSchema) ?? 'one of the allowed forms');
    default:
      return configErrorAt(src, path, e.message ?? 'invalid', describe(e.parentSchema));
  }
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? `integer ${v}` : `number ${v}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${String(v)}`;
}

const PLACEHOLDER = /<[A-Z0-9_]+>/;

/** Strings still holding a '<PLACEHOLDER>' from a template inventory: refuse them rather than deploy them. */
export function findPlaceholders(src: YamlSource, data: unknown = src.data): ConfigError[] {
  const out: ConfigError[] = [];
  const walk = (v: unknown, path: DataPath): void => {
    if (typeof v === 'string') {
      const m = PLACEHOLDER.exec(v);
      if (m) out.push(configErrorAt(src, path, `placeholder ${m[0]} left in value`, 'a real value in place of the placeholder'));
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(data, []);
  return out;
}
