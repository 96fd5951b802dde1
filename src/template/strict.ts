// Jinja2's StrictUndefined for nunjucks. nunjucks' own throwOnUndefined only
// fails when an undefined value is printed, with no variable name, and never
// in `{% if %}` or `when:` conditions, so a typo silently becomes false. Here
// every variable and attribute lookup is checked at the point of lookup and
// the error names the variable ('node.wg_ip') and its line and column. The
// operands of `is defined` / `is undefined` / `is none` and of the `default`
// filter stay lenient, as in Jinja, so optional values can still be tested.
//
// installStrictLookups() patches nunjucks' compiler once per process; it only
// changes the code emitted for symbols, attribute lookups and `+` (Jinja's,
// where lists concatenate: JavaScript's `+` would join them as text).
import nunjucks from 'nunjucks';

export class UndefinedVariable extends Error {
  constructor(
    readonly variable: string,
    readonly line: number,
    readonly col: number,
    detail?: string,
    /** The template the lookup is in: an included template names itself, not its includer. */
    readonly template?: string,
  ) {
    super(detail ?? `'${variable}' is undefined`);
    this.name = 'UndefinedVariable';
  }
  // nunjucks' handleError keeps an error that already has a line number.
  get lineno(): number {
    return this.line;
  }
}

/** The last lookup failure of the current (synchronous) render: nunjucks rewraps errors, this keeps the original. */
let lastFailure: UndefinedVariable | null = null;
export function takeLookupFailure(): UndefinedVariable | null {
  const f = lastFailure;
  lastFailure = null;
  return f;
}

/** Applied to every variable a template looks up (render.ts: lazily rendered defaults and inventory vars). */
let resolveLookup: ((name: string, value: unknown) => unknown) | null = null;
export function setLookupResolver(fn: (name: string, value: unknown) => unknown): void {
  resolveLookup = fn;
}

/** Jinja's `+`: lists concatenate; a list and anything else is an error (Python's TypeError), never JavaScript's string join. */
export function jinjaAdd(a: unknown, b: unknown): unknown {
  const la = Array.isArray(a);
  const lb = Array.isArray(b);
  if (la && lb) return [...a, ...b];
  if (la || lb) throw new Error(`can only concatenate list (not "${la ? typeof b : typeof a}") to list`);
  return (a as number) + (b as number);
}

const LENIENT_TESTS = new Set(['defined', 'undefined', 'none']);
const LENIENT_FILTERS = new Set(['default', 'd']);

interface NjNode {
  typename: string;
  value?: unknown;
  lineno: number;
  colno: number;
  target?: NjNode;
  val?: NjNode;
  name?: NjNode;
  right?: NjNode & { name?: NjNode };
}

function describe(node: NjNode | undefined): string {
  if (!node) return '?';
  if (node.typename === 'Symbol') return String(node.value);
  if (node.typename === 'LookupVal') {
    const v = node.val;
    if (v?.typename === 'Literal' && typeof v.value === 'string') return `${describe(node.target)}.${v.value}`;
    if (v?.typename === 'Literal') return `${describe(node.target)}[${JSON.stringify(v.value)}]`;
    return `${describe(node.target)}[…]`;
  }
  return '(expression)';
}

let installed = false;

export function installStrictLookups(): void {
  if (installed) return;
  installed = true;
  const nj = nunjucks as unknown as {
    compiler: { Compiler: { prototype: Record<string, (...a: unknown[]) => void> } };
    runtime: Record<string, unknown> & { memberLookup(o: unknown, k: unknown): unknown; contextOrFrameLookup(c: unknown, f: unknown, n: string): unknown };
  };
  const proto = nj.compiler.Compiler.prototype as Record<string, unknown> & { _lenient?: boolean };
  const rt = nj.runtime;

  rt.unibusLookup = (context: unknown, frame: unknown, name: string, lenient: boolean, line: number, col: number, tpl?: string) => {
    const v = rt.contextOrFrameLookup(context, frame, name);
    if (v === undefined && !lenient) throw (lastFailure = new UndefinedVariable(name, line, col, undefined, tpl));
    return resolveLookup && v !== undefined ? resolveLookup(name, v) : v;
  };
  rt.unibusAdd = jinjaAdd;
  rt.unibusMember = (obj: unknown, key: unknown, path: string, lenient: boolean, line: number, col: number, tpl?: string) => {
    if (obj === undefined || obj === null) {
      if (lenient) return undefined;
      throw (lastFailure = new UndefinedVariable(path, line, col, `'${path}' is undefined: its parent is ${obj === null ? 'null' : 'undefined'}`, tpl));
    }
    // rt.memberLookup, not the saved original: jinja-compat replaces it to add .items() and friends.
    const v = rt.memberLookup(obj, key);
    if (v === undefined && !lenient) throw (lastFailure = new UndefinedVariable(path, line, col, undefined, tpl));
    return v;
  };

  const withLenient = function (this: { _lenient?: boolean }, on: boolean, fn: () => void): void {
    const prev = this._lenient;
    this._lenient = on;
    try {
      fn();
    } finally {
      this._lenient = prev;
    }
  };

  type Self = Record<string, (...a: unknown[]) => unknown> & { _lenient?: boolean; templateName?: string };
  proto.compileSymbol = function (this: Self, node: NjNode, frame: { lookup(n: string): string | undefined }) {
    const name = String(node.value);
    const v = frame.lookup(name);
    if (v) this._emit(v);
    else this._emit(`runtime.unibusLookup(context, frame, ${JSON.stringify(name)}, ${Boolean(this._lenient)}, ${node.lineno + 1}, ${node.colno + 1}, ${JSON.stringify(this.templateName ?? '')})`);
  };
  proto.compileAdd = function (this: Self, node: NjNode & { left: unknown; right: unknown }, frame: unknown) {
    this._emit('runtime.unibusAdd(');
    this.compile(node.left, frame);
    this._emit(', ');
    this.compile(node.right, frame);
    this._emit(')');
  };
  proto.compileLookupVal = function (this: Self, node: NjNode, frame: unknown) {
    this._emit('runtime.unibusMember((');
    this._compileExpression(node.target, frame);
    this._emit('),');
    this._compileExpression(node.val, frame);
    // Point at the start of the chain ('node' in node.wg_ip), where the reader looks.
    let head = node;
    while (head.typename === 'LookupVal' && head.target) head = head.target;
    this._emit(`, ${JSON.stringify(describe(node))}, ${Boolean(this._lenient)}, ${head.lineno + 1}, ${head.colno + 1}, ${JSON.stringify(this.templateName ?? '')})`);
  };
  // nunjucks' own compileIs joins a test's arguments without commas (`x is version(a, '<')` did not compile).
  type IsSelf = { _lenient?: boolean; _emit(s: string): void; compile(n: unknown, f: unknown): void; _compileAggregate(n: unknown, f: unknown, a: string, b: string): void };
  proto.compileIs = function (this: IsSelf, node: NjNode & { left?: unknown; right?: NjNode & { args?: unknown } }, frame: unknown) {
    const test = String(node.right?.name ? node.right.name.value : node.right?.value);
    withLenient.call(this, LENIENT_TESTS.has(test) || Boolean(this._lenient), () => {
      this._emit(`env.getTest(${JSON.stringify(test)}).call(context, `);
      this.compile(node.left, frame);
      if (node.right?.args) {
        this._emit(',');
        this._compileAggregate(node.right.args, frame, '', '');
      }
      this._emit(') === true');
    });
  };
  const origFilter = proto.compileFilter as (this: unknown, node: NjNode, frame: unknown) => void;
  type FilterSelf = { _lenient?: boolean; _emit(s: string): void; compile(n: unknown, f: unknown): void };
  proto.compileFilter = function (this: FilterSelf, node: NjNode & { args?: { children: unknown[] } }, frame: unknown) {
    // Record where the filter is, as nunjucks does for function calls, so a failing filter has a line.
    this._emit(`(lineno = ${node.lineno}, colno = ${node.colno}, `);
    const name = String(node.name?.value);
    if (LENIENT_FILTERS.has(name) && node.args) {
      // Only the value being defaulted may be undefined: `x | default(y)` still needs y.
      this._emit(`env.getFilter(${JSON.stringify(name)}).call(context, `);
      node.args.children.forEach((child, i) => {
        if (i > 0) this._emit(',');
        withLenient.call(this, i === 0, () => this.compile(child, frame));
      });
      this._emit(')');
    } else origFilter.call(this, node, frame);
    this._emit(')');
  };
}
