// Template rendering in Jinja2 syntax (nunjucks), strict like Ansible with
// StrictUndefined: an undefined variable is a TemplateError naming the
// template, line, column and variable.
//
// Public API:
//   renderTemplate({file} | {text, name}, vars)  -> string
//     file: a template path; {% include %} / {% import %} resolve next to it.
//     text + name: an inline template; name is what errors call it.
//   renderValue(value, vars, origin?)  -> value with every string rendered,
//     recursively through lists and mappings. A string that is exactly one
//     '{{ expr }}' keeps the expression's native type (list, number, Secret...).
//     origin (a task's pos) makes errors point into the playbook.
//   evalExpression(expr, vars, origin?) -> the native value of a Jinja expression
//   evalCondition(cond, vars, origin?)  -> boolean, for when/until/changed_when/
//     failed_when: a bare expression (Ansible style), a boolean, or a list (all must hold).
//
// Environment: autoescape off, trimBlocks and lstripBlocks on (a block tag's
// own line leaves no blank line or indentation), trailing newline kept.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import nunjucks from 'nunjucks';
import { ConfigError, type SourcePos } from '../errors.js';
import { addAnsibleExtras, isTruthy } from './filters.js';
import { installStrictLookups, setLookupResolver, takeLookupFailure } from './strict.js';
import { installJinjaTruth } from './truthy.js';

/** A template problem: undefined variable, syntax error, failing filter. `path` is the variable when known. */
export class TemplateError extends ConfigError {}

export interface TemplateSource {
  file?: string;
  text?: string;
  /** What errors call an inline template (default '<inline>'); ignored when file is set. */
  name?: string;
}

// Python-style methods on values (.items(), .keys(), .split(), list slices) as Ansible users write them.
nunjucks.installJinjaCompat();
installStrictLookups();
installJinjaTruth();
const envs = new Map<string, nunjucks.Environment>();

function envFor(searchDir: string | null): nunjucks.Environment {
  const key = searchDir ?? '';
  let env = envs.get(key);
  if (!env) {
    const loader = searchDir ? new nunjucks.FileSystemLoader(searchDir, { noCache: true }) : null;
    env = new nunjucks.Environment(loader, {
      autoescape: false,
      throwOnUndefined: true,
      trimBlocks: true,
      lstripBlocks: true,
      dev: true, // keeps line/col and the original cause on errors
    });
    addAnsibleExtras(env);
    env.addGlobal('__unibus_capture', (v: unknown) => {
      captured = { value: v };
      return '';
    });
    envs.set(key, env);
  }
  return env;
}

let captured: { value: unknown } | null = null;

export function renderTemplate(source: TemplateSource, vars: Record<string, unknown>): string {
  if (source.file) {
    const file = resolve(source.file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new TemplateError({ file, line: 1, col: 1 }, 'template', `cannot read template (${(err as NodeJS.ErrnoException).code})`, undefined, { cause: err });
    }
    return renderText(text, vars, file, envFor(dirname(file)));
  }
  return renderText(source.text ?? '', vars, source.name ?? '<inline>', envFor(null));
}

// Task args render on every host for every task: compile each distinct string once.
// Bounded, since a long-lived process could otherwise grow it without end.
const compiled = new Map<string, nunjucks.Template>();
function compileCached(text: string, env: nunjucks.Environment, name: string): nunjucks.Template {
  const key = `${envKey(env)}\0${name}\0${text}`;
  let t = compiled.get(key);
  if (!t) {
    t = new nunjucks.Template(text, env, name, true);
    if (compiled.size >= 5000) compiled.clear();
    compiled.set(key, t);
  }
  return t;
}

function envKey(env: nunjucks.Environment): string {
  for (const [k, e] of envs) if (e === env) return k;
  return '?';
}

function renderText(text: string, vars: Record<string, unknown>, name: string, env: nunjucks.Environment, origin?: SourcePos, colShift = 0): string {
  takeLookupFailure();
  rendering.push(vars);
  try {
    return compileCached(text, env, name).render(vars);
  } catch (err) {
    throw toTemplateError(err, name, origin, colShift);
  } finally {
    rendering.pop();
  }
}

/**
 * Variables whose values are themselves templates, rendered when a template
 * looks them up, as Ansible templates role defaults and inventory vars
 * lazily (`state_bin: "{{ state_dir }}/bin"` means the rendered path). Set by
 * markLazy on a vars object (spreads carry it); a name is rendered only while
 * it still holds the value it was marked with, so a registered result or a
 * set_fact that replaced it is never templated.
 */
export const LAZY_VARS = Symbol('unibus.lazyVars');
class RecursiveVarError extends Error {}
/** The vars of each render under way, innermost last (nunjucks copies them without the mark). */
const rendering: Record<string, unknown>[] = [];
const resolving = new Set<string>();

function hasTemplate(v: unknown): boolean {
  if (typeof v === 'string') return v.includes('{{') || v.includes('{%');
  if (Array.isArray(v)) return v.some(hasTemplate);
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.values(v).some(hasTemplate);
  return false;
}

/** Marks the `names` of `vars` that hold templates to be rendered when looked up. */
export function markLazy(vars: Record<string, unknown>, names: Iterable<string>): void {
  const m = new Map<string, unknown>();
  for (const n of names) if (hasTemplate(vars[n])) m.set(n, vars[n]);
  Object.defineProperty(vars, LAZY_VARS, { value: m, enumerable: true, configurable: true, writable: true });
}

setLookupResolver((name, value) => {
  const vars = rendering.at(-1);
  const marked = (vars as { [LAZY_VARS]?: Map<string, unknown> } | undefined)?.[LAZY_VARS];
  if (!vars || marked?.get(name) !== value) return value;
  if (resolving.has(name)) throw new RecursiveVarError(`recursive loop detected in template string: ${name} (${[...resolving, name].join(' -> ')})`);
  resolving.add(name);
  try {
    return renderValue(value, vars);
  } catch (err) {
    for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof RecursiveVarError) throw e;
    throw new Error(`in the value of '${name}': ${(err as Error).message}`, { cause: err });
  } finally {
    resolving.delete(name);
  }
});

function toTemplateError(err: unknown, name: string, origin?: SourcePos, colShift = 0): TemplateError {
  const undef = takeLookupFailure();
  // Inside a YAML value the line inside the string is added to the value's own position.
  const at = (line: number, col: number, file = name): SourcePos => {
    const c = line === 1 ? Math.max(col - colShift, 1) : col;
    return origin ? { file: origin.file, line: origin.line + line - 1, col: line === 1 ? origin.col : c } : { file, line, col: c };
  };
  if (undef) {
    // An error in an {% include %}d template names that template (nunjucks calls it by its full path), at its own line.
    const inner = undef.template && undef.template !== name ? undef.template : undefined;
    const pos = inner ? { file: inner, line: undef.line, col: undef.col } : at(undef.line, undef.col);
    return new TemplateError(pos, undef.variable, undef.message.startsWith(`'${undef.variable}' is undefined:`) ? `undefined variable ${undef.message}` : `undefined variable '${undef.variable}'`, 'it to be defined in the inventory, play vars, role defaults or a registered result', { cause: err });
  }
  const e = err as { lineno?: number; colno?: number; cause?: Error; message?: string };
  const inner = e.cause?.message ?? e.message ?? String(err);
  const msg = inner
    .replace(/^\(.*?\)\s*(\[Line \d+, Column \d+\])?\s*/s, '')
    .replace(/^Template render error:\s*/, '')
    .replace(/attempted to output null or undefined value/, 'expression printed a null or undefined value')
    .trim()
    .split('\n')[0];
  // nunjucks' own errors (parser, output of null) carry 1-based positions; errors thrown
  // inside a render (a failing filter) are wrapped with the 0-based position of the node.
  const shift = e.cause ? 1 : 0;
  return new TemplateError(at(Math.max((e.lineno ?? 0) + shift, 1), Math.max((e.colno ?? 0) + shift, 1)), 'template', msg, undefined, { cause: err });
}

const CAPTURE_OPEN = '{{ __unibus_capture((';
const CAPTURE_CLOSE = ')) }}';
// Only a string that is the expression alone (spaces allowed, no newline) keeps
// the native type: "{{ x }}\n" is text and keeps its newline, as in Ansible.
const SINGLE_EXPR = /^ *\{\{((?:(?!\{\{|\}\}).)*)\}\} *$/s;

export function evalExpression(expr: string, vars: Record<string, unknown>, origin?: SourcePos, name = '<expression>'): unknown {
  captured = null;
  try {
    renderText(`${CAPTURE_OPEN}${expr}${CAPTURE_CLOSE}`, vars, origin?.file ?? name, envFor(null), origin, CAPTURE_OPEN.length);
  } catch (err) {
    // A syntax error would otherwise speak of the wrapper's own tokens: name the expression instead.
    if (err instanceof TemplateError && err.path === 'template') {
      const col = Math.min(err.pos.col, expr.length + 1);
      throw new TemplateError({ ...err.pos, col: origin ? err.pos.col : col }, 'expression', `invalid expression ${JSON.stringify(expr.trim())}: ${err.problem}`, 'a Jinja expression', { cause: err });
    }
    throw err;
  }
  const out = captured as { value: unknown } | null;
  captured = null;
  return out?.value;
}

export function renderValue(value: unknown, vars: Record<string, unknown>, origin?: SourcePos): unknown {
  if (typeof value === 'string') {
    if (!value.includes('{{') && !value.includes('{%')) return value;
    const single = SINGLE_EXPR.exec(value);
    if (single) return evalExpression(single[1], vars, origin);
    return renderText(value, vars, origin?.file ?? '<value>', envFor(null), origin);
  }
  if (Array.isArray(value)) return value.map((v) => renderValue(v, vars, origin));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderValue(v, vars, origin)]));
  }
  return value;
}

export function evalCondition(cond: string | boolean | (string | boolean)[], vars: Record<string, unknown>, origin?: SourcePos): boolean {
  if (typeof cond === 'boolean') return cond;
  if (Array.isArray(cond)) return cond.every((c) => evalCondition(c, vars, origin));
  // Ansible accepts (and warns about) `when: "{{ x }}"`: treat it as the bare expression.
  const single = SINGLE_EXPR.exec(cond);
  return isTruthy(evalExpression(single ? single[1] : cond, vars, origin, '<condition>'));
}
