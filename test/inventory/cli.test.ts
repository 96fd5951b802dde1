// `unibus inventory check|show|diff` run as a real child process (the CLI
// entry through tsx), with exit codes and output checked.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { diffInventories } from '../../src/inventory/diff.js';
import { loadInventory } from '../../src/inventory/load.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'unibus-inv-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Resolved here so the CLI can also run from a folder outside the project.
const TSX = import.meta.resolve('tsx');

function unibus(...args: string[]): { code: number | null; out: string; err: string } {
  return unibusIn(root, ...args);
}

function unibusIn(cwd: string, ...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(
    process.execPath,
    ['--import', TSX, '-e', `import(${JSON.stringify(join(root, 'src/cli/main.ts'))}).then((m) => m.main(process.argv.slice(1))).then((c) => process.exit(c))`, '--', ...args],
    { cwd, encoding: 'utf8', timeout: 30_000 },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('inventory check: OK with counts on the default inventory and the production example, exit 0', () => {
  const r = unibus('inventory', 'check');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^OK .*inventory\.yaml: cluster unibus-local, 3 node\(s\) \(n1, n2, n3\).*kv_replicas 3.*0 warning\(s\)/);
  const prod = unibus('inventory', 'check', '-i', 'examples/production.yaml');
  assert.equal(prod.code, 0, prod.err);
  assert.equal(prod.err, '');
  assert.match(prod.out, /^OK .*production\.yaml: cluster unibus-prod, 3 node\(s\) \(magnus, homer, datardos\).*route_network public, 0 warning\(s\)/);
});

test('inventory check -i on a bad file: every error with its position on stderr, exit 2', () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'cluster:\n  name: t\n  kv_replicas: 2\nnodes:\n  - name: a\n    public_ip: <IP>\n    colour: red\n');
  const r = unibus('inventory', 'check', '-i', bad);
  assert.equal(r.code, 2);
  assert.equal(r.out, '');
  assert.match(r.err, new RegExp(`${bad}:6:16: nodes\\[0\\]\\.public_ip: placeholder <IP> left in value`));
  assert.match(r.err, new RegExp(`${bad}:7:5: nodes\\[0\\]\\.colour: unknown key 'colour'`));
});

test('inventory check prints warnings and still passes', () => {
  const f = join(dir, 'even.yaml');
  writeFileSync(f, 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n  - name: b\n    public_ip: 10.0.0.2\n');
  const r = unibus('inventory', 'check', '--inventory', f);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /warning: .*even\.yaml: 2 nodes: an even count/);
  assert.match(r.out, /1 warning\(s\)/);
});

test('inventory show --host: resolved vars of that host only, secrets redacted', () => {
  const f = join(dir, 'secret.yaml');
  writeFileSync(f, 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    vars:\n      cluster_password: hunter2\n  - name: b\n    public_ip: 10.0.0.2\n  - name: c\n    public_ip: 10.0.0.3\n');
  const r = unibus('inventory', 'show', '-i', f, '--host', 'a', '--json');
  assert.equal(r.code, 0, r.err);
  const shown = JSON.parse(r.out);
  assert.deepEqual(Object.keys(shown), ['a']);
  assert.equal(shown.a.inventory_hostname, 'a');
  assert.equal(shown.a.nats_port, 4250);
  assert.match(shown.a.cluster_password, /^<redacted sha256:/);
  assert.doesNotMatch(r.out, /hunter2/);
  const text = unibus('inventory', 'show', '-i', f);
  assert.equal(text.code, 0);
  assert.match(text.out, /^a:\n/m);
  assert.match(text.out, /^c:\n/m);
  assert.doesNotMatch(text.out, /hunter2/);
  const unknown = unibus('inventory', 'show', '-i', f, '--host', 'zz');
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /'zz' matches no node or role/);
});

test('inventory diff: an address change re-mints that node, re-renders and restarts all; an added node is named', () => {
  const before = join(dir, 'old.yaml');
  const after = join(dir, 'new.yaml');
  writeFileSync(before, readFileSync(join(root, 'inventory.yaml')));
  writeFileSync(
    after,
    readFileSync(join(root, 'inventory.yaml'), 'utf8').replace('127.0.0.12', '127.0.0.22') + '  - name: n4\n    public_ip: 127.0.0.14\n  - name: n5\n    public_ip: 127.0.0.15\n',
  );
  const r = unibus('inventory', 'diff', before, after);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /nodes\.n2\.public_ip: "127\.0\.0\.12" -> "127\.0\.0\.22"/);
  assert.match(r.out, /re-mint certs: n2, n4, n5/);
  assert.match(r.out, /restart: +n1, n2, n3, n4, n5/);
  assert.match(r.out, /added: +n4, n5/);
  assert.doesNotMatch(r.out, /nodes\.n2\.host/); // host follows public_ip: reported once
});

test('diffInventories: reach-only edits restart nothing; kv_replicas re-renders without restarts', () => {
  const text = readFileSync(join(root, 'examples/production.yaml'), 'utf8');
  const a = loadInventory('/virtual/a.yaml', text);
  const b = loadInventory('/virtual/b.yaml', text.replace('user: root', 'user: deploy').replace('kv_replicas: 3', 'kv_replicas: 1'));
  const d = diffInventories(a, b);
  assert.deepEqual(d.restart, []);
  assert.deepEqual(d.remint, []);
  assert.deepEqual(d.rerender, ['magnus', 'homer', 'datardos']);
  assert.deepEqual(
    d.changes.map((c) => c.path),
    ['cluster.kv_replicas', 'nodes.magnus.user', 'nodes.homer.user', 'nodes.datardos.user'],
  );
  const removed = diffInventories(a, loadInventory('/virtual/c.yaml', text.replace('kv_replicas: 3', 'kv_replicas: 1').replace(/  - name: datardos[\s\S]*$/, '')));
  assert.deepEqual(removed.removed, ['datardos']);
  assert.deepEqual(removed.restart, ['magnus', 'homer']);
  assert.deepEqual(diffInventories(a, a).changes, []);
});

test('inventory diff reads REV:path from git when no such file exists', () => {
  const repo = join(dir, 'repo');
  const git = (...a: string[]) => spawnSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...a], { encoding: 'utf8', timeout: 10_000 });
  spawnSync('mkdir', ['-p', repo]);
  assert.equal(git('init', '-q').status, 0);
  const text = readFileSync(join(root, 'examples/production.yaml'), 'utf8');
  writeFileSync(join(repo, 'inventory.yaml'), text);
  assert.equal(git('add', 'inventory.yaml').status, 0);
  assert.equal(git('commit', '-q', '-m', 'x').status, 0);
  writeFileSync(join(repo, 'inventory.yaml'), text.replace('192.0.2.10', '192.0.2.11'));
  const r = unibusIn(repo, 'inventory', 'diff', 'HEAD:inventory.yaml', 'inventory.yaml');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /nodes\.magnus\.public_ip: "192\.0\.2\.10" -> "192\.0\.2\.11"/);
  assert.match(r.out, /re-mint certs: magnus\n/);
  const bad = unibus('inventory', 'diff', 'NOPE:x.yaml', 'inventory.yaml');
  assert.equal(bad.code, 2);
  assert.match(bad.err, /cannot read NOPE:x\.yaml/);
});
