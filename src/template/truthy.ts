// Jinja's truth in nunjucks' compiled templates. nunjucks compiles `{% if %}`,
// `elif`, `a if c else b`, `not`, `and` and `or` to JavaScript's own `if`,
// `?:`, `!`, `&&` and `||`, where an empty list or mapping is true; in Jinja
// (Python) both are false, so `{% if peers %}` over an empty list rendered
// the routes block of a cluster of none. Here each condition goes through
// isTruthy instead:
// - `if`/`elif`, `x if c else y` and `not x`: the condition is wrapped in a
//   call of isTruthy (a node of our own type, compiled to that call);
// - `a and b` / `a or b` keep Python's value (the deciding operand, not a
//   boolean), and `b` is evaluated only when `a` does not decide, as in
//   Jinja (`x is defined and x.y` must not look up `x.y`).
// Installed once, before any template compiles.
import nunjucks from 'nunjucks';
import { isTruthy } from './filters.js';

/** The name compiled code calls isTruthy by (nunjucks passes its runtime module to every template). */
const TRUTHY = 'unibusTruthy';

interface CompilerLike {
  compile(node: unknown, frame: unknown): void;
  _emit(code: string): void;
}
type NodeLike = { lineno: number; colno: number; cond?: unknown; target?: unknown; left?: unknown; right?: unknown; children?: unknown[] };
type NodeClass = { new (lineno: number, colno: number, ...fields: unknown[]): NodeLike; extend(name: string, props?: object): NodeClass };

let installed = false;

export function installJinjaTruth(): void {
  if (installed) return;
  installed = true;
  // nodes, compiler and runtime are exported by nunjucks but missing from @types/nunjucks.
  const nj = nunjucks as unknown as { nodes: Record<string, NodeClass>; runtime: Record<string, unknown>; compiler: { Compiler: { prototype: Record<string, (this: CompilerLike, node: NodeLike, frame: unknown, ...rest: unknown[]) => void> } } };
  const nodes = nj.nodes;
  nj.runtime[TRUTHY] = isTruthy;
  // A Group (so nunjucks' expression type checks take it) that compiles to `runtime.unibusTruthy(<child>)`.
  const Truth = nodes.Group!.extend('UnibusTruth');
  const truth = (n: NodeLike) => new Truth(n.lineno, n.colno, [n]);
  const proto = nj.compiler.Compiler.prototype;
  proto.compileUnibusTruth = function (node, frame) {
    this._emit(`runtime.${TRUTHY}(`);
    this.compile(node.children![0], frame);
    this._emit(')');
  };
  // The condition swapped for its wrapped self while nunjucks compiles the node, then put back.
  for (const [method, field] of [
    ['compileIf', 'cond'],
    ['compileInlineIf', 'cond'],
    ['compileNot', 'target'],
  ] as const) {
    const original = proto[method]!;
    proto[method] = function (node, frame, ...rest) {
      const inner = node[field] as NodeLike;
      node[field] = truth(inner);
      try {
        original.call(this, node, frame, ...rest);
      } finally {
        node[field] = inner;
      }
    };
  }
  // (function (l) { return truthy(l) ? <b> : l; })(<a>) for and; the branches swapped for or.
  const logical = (decides: 'and' | 'or') =>
    function (this: CompilerLike, node: NodeLike, frame: unknown) {
      this._emit(`(function (l) { return runtime.${TRUTHY}(l) ? `);
      if (decides === 'and') this.compile(node.right, frame);
      else this._emit('l');
      this._emit(' : ');
      if (decides === 'and') this._emit('l');
      else this.compile(node.right, frame);
      this._emit(' })(');
      this.compile(node.left, frame);
      this._emit(')');
    };
  proto.compileAnd = logical('and');
  proto.compileOr = logical('or');
}
