// YAML with positions: parse a file once, keep its AST and line counter, and
// map a data path (['nodes', 0, 'name']) back to file:line:col so every
// validation error can point at the offending key or value.
//
// Public API:
//   readYamlSource(file, text?)        -> YamlSource (throws ConfigErrors on syntax errors)
//   posAt(src, path, 'key'|'value')    -> SourcePos of the node at path (nearest ancestor if absent)
//   configErrorAt(src, path, problem, expected?, target?) -> ConfigError
//   formatPath(path)                   -> 'nodes[0].name'
import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isSeq, isScalar, isPair, isAlias, parseDocument } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { ConfigError, ConfigErrors, type SourcePos } from '../errors.js';

export type DataPath = (string | number)[];

export interface YamlSource {
  file: string;
  text: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** The document as plain data (aliases resolved). */
  data: unknown;
}

/** Reads and parses a YAML file; syntax errors (all of them) become ConfigErrors with their position. */
export function readYamlSource(file: string, text?: string): YamlSource {
  let body = text;
  if (body === undefined) {
    try {
      body = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigErrors([
        new ConfigError({ file, line: 1, col: 1 }, '', code === 'ENOENT' ? 'file not found' : `cannot read file (${code})`, undefined, { cause: err }),
      ]);
    }
  }
  const lineCounter = new LineCounter();
  // uniqueKeys (the default) makes a repeated mapping key a syntax error: YAML would silently keep the last one.
  const doc = parseDocument(body, { lineCounter, prettyErrors: false });
  if (doc.errors.length) {
    throw new ConfigErrors(
      doc.errors.map((e) => {
        const lp = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
        return new ConfigError({ file, line: lp.line, col: lp.col }, '', `YAML syntax error: ${firstLine(e.message)}`, undefined, { cause: e });
      }),
    );
  }
  return { file, text: body, doc, lineCounter, data: doc.toJS({ maxAliasCount: 1000 }) };
}

function firstLine(msg: string): string {
  return msg.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

/** Renders a data path the way users read it: nodes[0].vars.http_port */
export function formatPath(path: DataPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** JSON pointer (ajv instancePath) to a data path; numeric segments become indexes. */
export function pointerToPath(pointer: string): DataPath {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/**
 * Position of the node at `path`: its key ('key', for unknown keys) or its
 * value ('value', for wrong types). A path that does not exist in the file
 * (a missing required field) falls back to the nearest existing ancestor.
 */
export function posAt(src: YamlSource, path: DataPath, target: 'key' | 'value' = 'value'): SourcePos {
  let node: unknown = src.doc.contents;
  let best: number = (node as YamlNode | null)?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(src.doc);
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyOf(p.key) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as YamlNode | null;
      if (last && target === 'key' && keyNode?.range) return toPos(src, keyNode.range[0]);
      node = pair.value;
      const r = (node as YamlNode | null)?.range ?? keyNode?.range;
      if (r) best = r[0];
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      const r = (node as YamlNode | null)?.range;
      if (!r) break;
      best = r[0];
    } else break;
  }
  return toPos(src, best);
}

function keyOf(k: unknown): string {
  return isScalar(k) ? String(k.value) : String(k);
}

function toPos(src: YamlSource, offset: number): SourcePos {
  const lp = src.lineCounter.linePos(offset);
  return { file: src.file, line: lp.line, col: lp.col };
}

/** A ConfigError located at `path` in this source. */
export function configErrorAt(
  src: YamlSource,
  path: DataPath,
  problem: string,
  expected?: string,
  target: 'key' | 'value' = 'value',
): ConfigError {
  return new ConfigError(posAt(src, path, target), formatPath(path), problem, expected);
}

/** Throws all collected errors at once, ordered by position, so one run shows every problem. */
export function throwIfErrors(errors: ConfigError[]): void {
  if (!errors.length) return;
  errors.sort((a, b) => a.pos.line - b.pos.line || a.pos.col - b.pos.col);
  throw new ConfigErrors(errors);
}
