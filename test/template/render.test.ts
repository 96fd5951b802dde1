// Strict Jinja-style rendering: undefined variables are errors naming the
// template, line and variable; one-expression values keep their type;
// conditions evaluate like Ansible's; the Ansible filters behave.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { Secret } from '../../src/secret.js';
import { TemplateError, evalCondition, renderTemplate, renderValue } from '../../src/template/render.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-tpl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function templateError(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TemplateError, `expected TemplateError, got ${err}`);
    assert.ok(err instanceof ConfigError);
    return err;
  }
  assert.fail('expected a TemplateError');
}

const vars = { name: 'n1', ports: { http: 8470 }, peers: [{ name: 'n2', ip: '10.0.0.2' }, { name: 'n3', ip: '10.0.0.3' }], empty: [], nothing: null };

test('a template file renders with includes next to it, trimBlocks and lstripBlocks on', () => {
  writeFileSync(join(dir, 'part.j2'), 'port={{ ports.http }}\n');
  writeFileSync(join(dir, 'main.env'), 'NODE={{ name }}\n{% include "part.j2" %}\n  {% for p in peers %}\nROUTE={{ p.ip }}\n  {% endfor %}\nEND\n');
  assert.equal(renderTemplate({ file: join(dir, 'main.env') }, vars), 'NODE=n1\nport=8470\nROUTE=10.0.0.2\nROUTE=10.0.0.3\nEND\n');
});

test('an undefined variable in a template file names the file, line, column and variable', () => {
  const f = join(dir, 'cluster.env');
  writeFileSync(f, 'NODE={{ name }}\nCLUSTER={{ cluster_name }}\n');
  const e = templateError(() => renderTemplate({ file: f }, vars));
  assert.deepEqual(e.pos, { file: f, line: 2, col: 12 });
  assert.equal(e.path, 'cluster_name');
  assert.match(e.message, new RegExp(`^${f}:2:12: cluster_name: undefined variable 'cluster_name'`));
});

test('an undefined attribute names the whole path and points at its start', () => {
  const e = templateError(() => renderTemplate({ text: 'a\n\n   WG={{ peers[0].name }} {{ ports.wg }}\n', name: 'wg.conf' }, vars));
  assert.deepEqual(e.pos, { file: 'wg.conf', line: 3, col: 30 });
  assert.equal(e.path, 'ports.wg');
});

test('undefined variables fail in conditions and loops too, not only when printed', () => {
  assert.equal(templateError(() => renderTemplate({ text: '{% if enable_tls %}x{% endif %}', name: 't' }, vars)).path, 'enable_tls');
  assert.equal(templateError(() => renderTemplate({ text: '{% for x in nodes %}{% endfor %}', name: 't' }, vars)).path, 'nodes');
  assert.equal(templateError(() => renderTemplate({ text: '{{ "a" if missing == 1 else "b" }}', name: 't' }, vars)).path, 'missing');
});

test('is defined, is undefined and default stay lenient, as in Jinja', () => {
  const out = renderTemplate(
    { text: '{{ missing | default("d") }} {{ missing is defined }} {{ ports.wg is undefined }} {{ a.b.c is defined }} {{ nothing is none }} {{ ports.http | default(1) }}', name: 't' },
    vars,
  );
  assert.equal(out, 'd false true false true 8470');
  // only the defaulted value may be undefined: the fallback itself must exist
  assert.equal(templateError(() => renderTemplate({ text: '{{ missing | default(fallback) }}', name: 't' }, vars)).path, 'fallback');
  assert.equal(renderTemplate({ text: '{{ missing | default(name) }}', name: 't' }, vars), 'n1');
});

test('a template syntax error has its position', () => {
  const e = templateError(() => renderTemplate({ text: 'ok\n{% if name %}\n{{ name }\n{% endif %}', name: 'broken.j2' }, vars));
  assert.equal(e.pos.file, 'broken.j2');
  assert.equal(e.pos.line, 3);
  const missing = templateError(() => renderTemplate({ file: join(dir, 'nope.j2') }, vars));
  assert.match(missing.message, /cannot read template \(ENOENT\)/);
});

test('renderValue: one-expression strings keep their native type; others become strings; recursion', () => {
  const secret = new Secret('s3cret');
  const out = renderValue(
    { list: '{{ peers | map(attribute="name") | list }}', port: '{{ ports.http }}', on: '{{ 1 == 1 }}', text: 'port {{ ports.http }}', plain: 'no {braces}', deep: [{ x: ' {{ ports.http + 1 }} ' }], pw: '{{ secret }}', n: 5 },
    { ...vars, secret },
  ) as Record<string, unknown>;
  assert.deepEqual(out.list, ['n2', 'n3']);
  assert.equal(out.port, 8470);
  assert.equal(out.on, true);
  assert.equal(out.text, 'port 8470');
  assert.equal(out.plain, 'no {braces}');
  assert.deepEqual(out.deep, [{ x: 8471 }]);
  assert.equal(out.pw, secret);
  assert.equal(out.n, 5);
  // Two expressions are text, not a native value.
  assert.equal(renderValue('{{ ports.http }}{{ ports.http }}', vars), '84708470');
  // A trailing newline makes it text, and the newline is kept (file content).
  assert.equal(renderValue('{{ ports.http }}\n', vars), '8470\n');
  assert.deepEqual(renderValue('{{ peers | map(attribute="ip") | map("upper") | list }}', vars), ['10.0.0.2', '10.0.0.3']);
});

test('renderValue with an origin points errors into the playbook', () => {
  const origin = { file: '/p/site.yaml', line: 12, col: 9 };
  const e = templateError(() => renderValue({ dest: '/etc/{{ svc_name }}.conf' }, vars, origin));
  assert.equal(e.pos.file, '/p/site.yaml');
  assert.equal(e.pos.line, 12);
  assert.equal(e.path, 'svc_name');
});

test('evalCondition: booleans, lists (all), bare and braced expressions, registered results', () => {
  const r = { result: { rc: 1, stdout: 'active\n', changed: false, failed: false }, flag: 'no', items: [] };
  assert.equal(evalCondition(true, r), true);
  assert.equal(evalCondition(false, r), false);
  assert.equal(evalCondition('result.rc != 0', r), true);
  assert.equal(evalCondition("'active' in result.stdout", r), true);
  assert.equal(evalCondition('{{ result.rc == 0 }}', r), false);
  assert.equal(evalCondition(['result.rc == 1', 'flag | bool'], r), false);
  assert.equal(evalCondition(['result.rc == 1', 'not (flag | bool)'], r), true);
  assert.equal(evalCondition('result is failed', r), true);
  assert.equal(evalCondition('result is succeeded', r), false);
  assert.equal(evalCondition('items', r), false); // empty list is false, as in Python
  assert.equal(evalCondition('missing is defined', r), false);
  assert.equal(evalCondition('result.stdout is search("act")', r), true);
  assert.equal(evalCondition('True and not False', r), true);
  const bad = templateError(() => evalCondition('result.rc ==', r));
  assert.match(bad.message, /^<condition>:1:\d+: expression: invalid expression "result\.rc ==": /);
  const e = templateError(() => evalCondition('result.code == 0', r, { file: '/p/x.yaml', line: 4, col: 7 }));
  assert.equal(e.path, 'result.code');
  assert.deepEqual(e.pos, { file: '/p/x.yaml', line: 4, col: 7 });
});

test('Ansible filters: default, bool, to_json, from_json, b64encode, regex_replace, basename, dirname, join, int, length, quote', () => {
  const f = (expr: string, v: Record<string, unknown> = {}) => renderValue(`{{ ${expr} }}`, v);
  assert.equal(f('x | default("fallback")'), 'fallback');
  assert.equal(f('"" | default("fb", true)'), 'fb');
  assert.equal(f('"yes" | bool'), true);
  assert.equal(f('"off" | bool'), false);
  assert.equal(f('d | to_json', { d: { a: [1, 'x'] } }), '{"a":[1,"x"]}');
  assert.deepEqual(f('s | from_json', { s: '{"a":[1,2]}' }), { a: [1, 2] });
  assert.equal(f('"unibus" | b64encode'), 'dW5pYnVz');
  assert.equal(f('"nats-2.10.27" | regex_replace("^nats-(\\\\d+)\\\\..*$", "v\\\\1")'), 'v2');
  assert.equal(f('"/etc/unibus/cluster.env" | basename'), 'cluster.env');
  assert.equal(f('"/etc/unibus/cluster.env" | dirname'), '/etc/unibus');
  assert.equal(f('l | join(",")', { l: ['a', 'b'] }), 'a,b');
  assert.equal(f('"42" | int + 1'), 43);
  assert.equal(f('l | length', { l: [1, 2, 3] }), 3);
  assert.equal(f('s | quote', { s: "it's a $HOME" }), `'it'\\''s a $HOME'`);
  assert.equal(f('s | quote', { s: 'plain-word_1.2' }), 'plain-word_1.2');
});

test('an undefined variable inside an included template names the included file and its line', () => {
  writeFileSync(join(dir, 'routes.j2'), 'ROUTES=\n{{ route_list }}\n');
  writeFileSync(join(dir, 'outer.env'), 'A=1\n{% include "routes.j2" %}\n');
  const e = templateError(() => renderTemplate({ file: join(dir, 'outer.env') }, vars));
  assert.equal(e.path, 'route_list');
  assert.deepEqual(e.pos, { file: join(dir, 'routes.j2'), line: 2, col: 4 });
});

test('a failing filter reports the line and column of the filter', () => {
  const e = templateError(() => renderTemplate({ text: 'a\nb {{ s | from_json }}', name: 'f.j2' }, { s: '{bad' }));
  assert.deepEqual(e.pos, { file: 'f.j2', line: 2, col: 10 });
  assert.match(e.message, /from_json: not valid JSON/);
});

test("Ansible's version test: loose order, every operator spelling, two arguments and keywords; a version type it does not do is refused", () => {
  const v = { running: '2.10.27', pin: '2.15.1' };
  assert.equal(evalCondition("running is version(pin, '<')", v), true);
  assert.equal(evalCondition("pin is version('2.9.99', 'gt')", v), true, '2.15.1 > 2.9.99: numbers, not text');
  assert.equal(evalCondition("running is version('2.10.27')", v), true, 'eq by default');
  assert.equal(evalCondition("running is version('2.10.27', '!=')", v), false);
  assert.equal(evalCondition("'1.0a' is version('1.0', '>')", v), true);
  assert.equal(evalCondition("running is version_compare(pin, 'lt')", v), true);
  assert.match(templateError(() => evalCondition("running is version(pin, 'newer')", v)).message, /version: invalid operator "newer"/);
  assert.match(templateError(() => evalCondition("running is version(pin, '<', version_type='semver')", v)).message, /only the loose comparison is supported \(version_type semver is not\)/);
});

test("Jinja's + on lists concatenates; a list plus a string is an error", () => {
  assert.deepEqual(renderValue("{{ ['a'] + ['b', 'c'] }}", {}), ['a', 'b', 'c']);
  assert.equal(renderValue('{{ 1 + 2 }}', {}), 3);
  assert.equal(renderValue("{{ 'a' + 'b' }}", {}), 'ab');
  assert.match(templateError(() => renderValue("{{ ['a'] + 'b' }}", {})).message, /can only concatenate list \(not "string"\) to list/);
});

test("Jinja's truth in templates: an empty list or mapping is false in if, elif, inline if, not, and, or", () => {
  const v = { e: [], o: {}, l: [1], s: '', n: 0 };
  const r = (text: string) => renderTemplate({ text }, v);
  assert.equal(r('{% if e %}Y{% else %}N{% endif %}'), 'N');
  assert.equal(r('{% if o %}Y{% elif l %}L{% endif %}'), 'L');
  assert.equal(r('{% if e or o %}Y{% elif not s and not n %}Z{% endif %}'), 'Z');
  assert.equal(r('{{ "Y" if o else "N" }}'), 'N');
  assert.equal(r('{{ (not e) ~ "," ~ (not l) }}'), 'true,false');
  // and/or give the deciding operand, as Python does, and short-circuit.
  assert.equal(r('{{ e or "fb" }}|{{ l or "fb" }}|{{ (e and "x") | length }}|{{ l and "x" }}'), 'fb|1|0|x');
  assert.equal(r('{{ later is defined and later.field }}'), 'false', 'the right of and is not looked up when the left decides');
  assert.equal(evalCondition('e and l', v), false);
  assert.equal(evalCondition('o or l', v), true);
});

test("default(x, true), ternary and selectattr/rejectattr as Jinja and Ansible document them", () => {
  const v = { e: [], z: 0, nil: null, ps: [{ a: 1, b: { c: 0 } }, { a: 0, b: { c: 2 } }] };
  const r = (text: string) => renderTemplate({ text }, v);
  assert.equal(r('{{ e | default("D", true) }}|{{ e | d("D", true) | length }}|{{ e | default("D") | length }}|{{ z | default(5) }}'), 'D|1|0|0');
  assert.equal(r('{{ e | ternary("y", "n") }} {{ nil | ternary("y", "n", "none") }} {{ nil | ternary("y", "n") }}'), 'n none n');
  assert.equal(r('{{ ps | selectattr("a") | length }} {{ ps | rejectattr("a") | length }}'), '1 1');
  assert.equal(r('{{ ps | selectattr("b.c", "equalto", 2) | map(attribute="a") | join(",") }}'), '0');
  assert.equal(r('{{ ps | rejectattr("b.c", "equalto", 2) | map(attribute="a") | join(",") }}'), '1');
});
