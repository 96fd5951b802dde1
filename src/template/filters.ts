// The Ansible filters and tests operators reach for, added to nunjucks'
// built-ins (default, join, int, length, lower, upper, replace, ... already
// exist there). Python spellings (True, False, None) are globals so
// expressions copied from Ansible work unchanged.
import { basename, dirname } from 'node:path';
import type { Environment } from 'nunjucks';
import { UnibusError } from '../errors.js';

export class FilterError extends UnibusError {}

/** POSIX shell quoting, the one place it is done for templates: 'it'\''s'. */
export function quoteShell(v: unknown): string {
  const s = String(v);
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function toBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return ['yes', 'on', '1', 'true', 'y', 't'].includes(v.trim().toLowerCase());
  return false;
}

function pyRegex(pattern: string, flags = ''): RegExp {
  // Python's named groups (?P<n>...) are (?<n>...) in JS.
  return new RegExp(String(pattern).replace(/\(\?P</g, '(?<'), flags);
}

const filters: Record<string, (...args: never[]) => unknown> = {
  bool: (v: unknown) => toBool(v),
  to_json: (v: unknown, indent?: number) => JSON.stringify(v, null, indent),
  to_nice_json: (v: unknown, indent = 4) => JSON.stringify(v, null, indent),
  from_json: (v: string) => {
    try {
      return JSON.parse(v);
    } catch (err) {
      throw new FilterError(`from_json: not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  },
  b64encode: (v: unknown) => Buffer.from(String(v), 'utf8').toString('base64'),
  b64decode: (v: unknown) => Buffer.from(String(v), 'base64').toString('utf8'),
  regex_replace: (v: unknown, pattern: string, replacement = '', ignorecase = false) =>
    String(v).replace(pyRegex(pattern, ignorecase ? 'gi' : 'g'), String(replacement).replace(/\\(\d)/g, '$$$1')),
  regex_search: (v: unknown, pattern: string) => {
    const m = pyRegex(pattern).exec(String(v));
    return m ? m[0] : null;
  },
  basename: (v: unknown) => basename(String(v)),
  dirname: (v: unknown) => dirname(String(v)),
  quote: (v: unknown) => quoteShell(v),
  // Ansible's: none_val (when given) for a null value, then Python truth.
  ternary: (v: unknown, yes: unknown, no: unknown, none?: unknown) => (v === null && none !== undefined && none !== null ? none : isTruthy(v) ? yes : no),
  mandatory: (v: unknown, msg?: string) => {
    if (v === undefined) throw new FilterError(msg ?? 'mandatory variable is undefined');
    return v;
  },
  dict2items: (v: Record<string, unknown>) => Object.entries(v ?? {}).map(([key, value]) => ({ key, value })),
  items2dict: (v: { key: string; value: unknown }[]) => Object.fromEntries((v ?? []).map((x) => [x.key, x.value])),
  combine: (...objs: Record<string, unknown>[]) => Object.assign({}, ...objs),
  unique: (v: unknown[]) => [...new Set(v ?? [])],
  flatten: (v: unknown[]) => (v ?? []).flat(Infinity),
  string: (v: unknown) => (v === null || v === undefined ? '' : String(v)),
};

type Result = { failed?: boolean; changed?: boolean; skipped?: boolean; rc?: number };

const VERSION_OPS: Record<string, (c: number) => boolean> = {
  '<': (c) => c < 0, lt: (c) => c < 0, '<=': (c) => c <= 0, le: (c) => c <= 0,
  '>': (c) => c > 0, gt: (c) => c > 0, '>=': (c) => c >= 0, ge: (c) => c >= 0,
  '==': (c) => c === 0, '=': (c) => c === 0, eq: (c) => c === 0, '!=': (c) => c !== 0, '<>': (c) => c !== 0, ne: (c) => c !== 0,
};

/** Python's LooseVersion order: runs of digits compare as numbers, other runs as text, a number before text. */
function compareLoose(a: string, b: string): number {
  const parts = (v: string) => (v.match(/\d+|[a-z]+/gi) ?? []).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    if (typeof x === typeof y) return x < y ? -1 : 1;
    return typeof x === 'number' ? -1 : 1;
  }
  return 0;
}

/** Ansible's `version` test (loose comparison, its default); other version types are refused, not guessed. */
function versionTest(value: unknown, version: unknown, operator: unknown = 'eq', ...rest: unknown[]): boolean {
  const op = VERSION_OPS[String(operator)];
  if (!op) throw new FilterError(`version: invalid operator ${JSON.stringify(operator)} (expected one of ${Object.keys(VERSION_OPS).join(', ')})`);
  const kw = rest.find((a) => a && typeof a === 'object' && (a as { __keywords?: boolean }).__keywords) as { strict?: boolean; version_type?: string } | undefined;
  if (kw?.strict || (kw?.version_type && kw.version_type !== 'loose')) throw new FilterError(`version: only the loose comparison is supported (version_type ${kw.version_type ?? 'strict'} is not)`);
  if (value === undefined || value === null || value === '') throw new FilterError('version: the value to compare is empty');
  return op(compareLoose(String(value), String(version)));
}

const tests: Record<string, (...args: never[]) => boolean> = {
  succeeded: (r: Result) => !r?.failed && (r?.rc === undefined || r.rc === 0),
  success: (r: Result) => !r?.failed && (r?.rc === undefined || r.rc === 0),
  failed: (r: Result) => Boolean(r?.failed) || (r?.rc !== undefined && r.rc !== 0),
  changed: (r: Result) => Boolean(r?.changed),
  skipped: (r: Result) => Boolean(r?.skipped),
  match: (v: unknown, pattern: string) => pyRegex(`^(?:${pattern})`).test(String(v)),
  search: (v: unknown, pattern: string) => pyRegex(pattern).test(String(v)),
  truthy: (v: unknown) => isTruthy(v),
  version: versionTest,
  version_compare: versionTest,
  falsy: (v: unknown) => !isTruthy(v),
};

/** Python truthiness: empty lists, mappings, sets and strings are false, as in Jinja. */
export function isTruthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map || v instanceof Set) return v.size > 0;
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.keys(v).length > 0;
  // nunjucks' SafeString (a String object): its text decides.
  if (v instanceof String) return v.length > 0;
  return Boolean(v);
}

/** An item's attribute as Jinja's selectattr names it: dotted for nested ones ("a.b"). */
const attrOf = (item: unknown, attr: string) => String(attr).split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | null | undefined)?.[k], item);

type FilterThis = { env: { getTest(name: string): (...a: unknown[]) => boolean } };

/** Jinja's selectattr/rejectattr: the items whose attribute passes the named test (truth without one), or fails it. */
const byAttr = (keep: boolean) =>
  function (this: FilterThis, seq: unknown[], attr: string, test?: string, ...args: unknown[]) {
    const pass = test === undefined ? isTruthy : (v: unknown) => this.env.getTest(test).call(this, v, ...args) === true;
    return [...(seq ?? [])].filter((item) => pass(attrOf(item, attr)) === keep);
  };

/** Jinja's default: the fallback for an undefined value, and with `boolean` true also for a false one (Python truth). */
function defaultFilter(v: unknown, fallback: unknown, boolean?: boolean): unknown {
  return v === undefined || (boolean === true && !isTruthy(v)) ? fallback : v;
}

export function addAnsibleExtras(env: Environment): void {
  for (const [name, fn] of Object.entries(filters)) env.addFilter(name, fn as (...a: unknown[]) => unknown);
  // addTest exists at runtime but is missing from @types/nunjucks.
  const withTests = env as Environment & { addTest(name: string, fn: (...a: unknown[]) => boolean): void };
  for (const [name, fn] of Object.entries(tests)) withTests.addTest(name, fn as (...a: unknown[]) => boolean);
  // Jinja's map: map(attribute='name') plucks, map('upper') applies a filter to each item.
  env.addFilter('map', (seq: unknown[], ...args: unknown[]) => {
    const kw = args.find((a) => a && typeof a === 'object' && (a as { __keywords?: boolean }).__keywords) as { attribute?: string } | undefined;
    if (kw?.attribute !== undefined) return (seq ?? []).map((x) => String(kw.attribute).split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], x));
    const [name, ...rest] = args.filter((a) => a !== kw);
    const fn = env.getFilter(String(name)) as (...a: unknown[]) => unknown;
    return (seq ?? []).map((x) => fn(x, ...rest));
  });
  // nunjucks' own test JavaScript truth, and its selectattr takes no test.
  env.addFilter('default', defaultFilter);
  env.addFilter('d', defaultFilter);
  env.addFilter('selectattr', byAttr(true));
  env.addFilter('rejectattr', byAttr(false));
  env.addGlobal('True', true);
  env.addGlobal('False', false);
  env.addGlobal('None', null);
}
