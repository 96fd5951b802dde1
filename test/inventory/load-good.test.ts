// The shipped inventories pass, defaults are applied, warnings are raised,
// hosts are selected and variables resolved in the documented order.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../src/inventory/load.js';
import { HostPatternError, selectHosts } from '../../src/inventory/select.js';
import { hostVars, redactVars } from '../../src/inventory/vars.js';
import { DEFAULT_NATS_SERVER } from '../../src/inventory/nats-releases.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('the default inventory.yaml: three local nodes under process, R3, state in the project', () => {
  const inv = loadInventory(`${root}inventory.yaml`);
  assert.equal(inv.cluster.name, 'unibus-local');
  assert.deepEqual(inv.nodes.map((n) => [n.name, n.public_ip, n.connection, n.service_manager]), [
    ['n1', '127.0.0.11', 'local', 'process'],
    ['n2', '127.0.0.12', 'local', 'process'],
    ['n3', '127.0.0.13', 'local', 'process'],
  ]);
  assert.equal(inv.cluster.kv_replicas, 3);
  // No nats_server in the file: the bundled release the project tested last.
  assert.deepEqual(inv.cluster.nats_server, { source: 'bundled', version: DEFAULT_NATS_SERVER });
  assert.deepEqual(inv.cluster.ports, { http: 8470, nats: 4250, route: 6250 });
  assert.deepEqual(inv.warnings, []);
  const v = hostVars(inv, inv.nodes[1]);
  assert.equal(v.state_dir, `${root}.unibus/local/n2`);
  // positions point at each node's mapping in the file
  const lines = readFileSync(`${root}inventory.yaml`, 'utf8').split('\n');
  const line = lines.findIndex((l) => l.includes('- name: n2')) + 1;
  assert.deepEqual(inv.positions.get('n2'), { file: `${root}inventory.yaml`, line, col: 5 });
});

test('examples/production.yaml: magnus, homer, datardos over ssh and systemd on documentation addresses', () => {
  const inv = loadInventory(`${root}examples/production.yaml`);
  assert.deepEqual(inv.nodes.map((n) => n.name), ['magnus', 'homer', 'datardos']);
  assert.equal(inv.cluster.route_network, 'public');
  for (const n of inv.nodes) {
    assert.equal(n.connection, 'ssh');
    assert.equal(n.service_manager, 'systemd');
    assert.match(n.public_ip, /^(192\.0\.2|198\.51\.100|203\.0\.113)\./);
  }
  assert.deepEqual(inv.warnings, []);
});

test('examples/user-service.yaml: one systemd-user node, not root, bundled nats-server, state in the home folder', () => {
  const inv = loadInventory(`${root}examples/user-service.yaml`);
  assert.deepEqual(inv.nodes.map((n) => [n.name, n.service_manager, n.user]), [['desk', 'systemd-user', 'unibus']]);
  assert.equal(inv.cluster.nats_server?.source, 'bundled');
  assert.match(String(inv.cluster.state_dir), /^\/home\/unibus\//);
  assert.deepEqual(inv.warnings, []);
});

const base = (extra = '', nodes = 3) =>
  `cluster:\n  name: t\n${extra}nodes:\n` + Array.from({ length: nodes }, (_, i) => `  - name: n${i + 1}\n    public_ip: 10.0.0.${i + 1}\n    role: ${i === 0 ? 'seed' : 'node'}\n`).join('');

test('defaults fill node fields; a node overrides them; vars merge key by key', () => {
  const yaml =
    'cluster:\n  name: t\ndefaults:\n  user: deploy\n  port: 2222\n  vars:\n    a: 1\n    b: 1\nnodes:\n' +
    '  - name: x\n    public_ip: 10.0.0.1\n    user: admin\n    vars:\n      b: 2\n';
  const [n] = loadInventory('/virtual/i.yaml', yaml).nodes;
  assert.equal(n.user, 'admin');
  assert.equal(n.port, 2222);
  assert.equal(n.host, '10.0.0.1');
  assert.equal(n.connection, 'ssh');
  assert.deepEqual(n.vars, { a: 1, b: 2 });
});

test('an even node count and kv_replicas 2 are warnings, not errors', () => {
  const inv = loadInventory('/virtual/i.yaml', base('  kv_replicas: 2\n', 2));
  assert.equal(inv.warnings.length, 2);
  assert.match(inv.warnings.join('\n'), /2 nodes: an even count/);
  assert.match(inv.warnings.join('\n'), /kv_replicas 2 tolerates no more failures/);
});

test('nonce_store memory below kv_replicas 3 is a warning: nonces stay on disk', () => {
  const inv = loadInventory('/virtual/i.yaml', base('  kv_replicas: 1\n  nonce_store: memory\n', 3));
  assert.deepEqual(inv.warnings, ['nonce_store memory needs kv_replicas 3 or more: at kv_replicas 1 nonces stay on disk']);
  assert.deepEqual(loadInventory('/virtual/i.yaml', base('  kv_replicas: 3\n  nonce_store: memory\n', 3)).warnings, []);
  assert.throws(() => loadInventory('/virtual/i.yaml', base('  nonce_store: ram\n', 3)), /i\.yaml:3:16: cluster\.nonce_store: invalid value "ram" \(expected one of: disk, memory\)/);
});

test('local nodes may share an address when their ports differ', () => {
  const yaml =
    'cluster:\n  name: t\ndefaults:\n  connection: local\nnodes:\n  - name: a\n    public_ip: 127.0.0.1\n' +
    '  - name: b\n    public_ip: 127.0.0.1\n    vars: {http_port: 8471, nats_port: 4251, route_port: 6251}\n';
  const inv = loadInventory('/virtual/i.yaml', yaml);
  assert.deepEqual((hostVars(inv, inv.nodes[1]).node as { ports: object }).ports, { http: 8471, nats: 4251, route: 6251 });
  assert.equal(hostVars(inv, inv.nodes[1]).nats_port, 4251);
  assert.equal(hostVars(inv, inv.nodes[0]).nats_port, 4250);
});

test('selectHosts: all, role, name, lists, exclusion, limit, and unknown names refused', () => {
  const inv = loadInventory('/virtual/i.yaml', base());
  const names = (p: string | string[], l?: string) => selectHosts(inv, p, l).map((n) => n.name);
  assert.deepEqual(names('all'), ['n1', 'n2', 'n3']);
  assert.deepEqual(names('node'), ['n2', 'n3']);
  assert.deepEqual(names('seed'), ['n1']);
  assert.deepEqual(names(['n3', 'n1']), ['n1', 'n3']);
  assert.deepEqual(names('n3,n2'), ['n2', 'n3']);
  assert.deepEqual(names('all:!n2'), ['n1', 'n3']);
  assert.deepEqual(names(['all', '!node']), ['n1']);
  assert.deepEqual(names('!n1'), ['n2', 'n3']);
  assert.deepEqual(names('all', 'n2'), ['n2']);
  assert.deepEqual(names('node', 'n1'), []);
  assert.throws(() => names('n9'), (e: unknown) => e instanceof HostPatternError && /'n9' matches no node or role/.test((e as Error).message) && /nodes: n1, n2, n3/.test((e as Error).message));
  assert.throws(() => names('all', '!webservers'), HostPatternError);
});

test('hostVars precedence: role defaults < inventory defaults < node vars < play vars < facts; built-ins last', () => {
  const yaml = 'cluster:\n  name: t\ndefaults:\n  vars: {a: inv-default, b: inv-default, c: inv-default}\nnodes:\n  - name: x\n    public_ip: 10.0.0.1\n    vars: {b: node, c: node}\n';
  const inv = loadInventory('/virtual/i.yaml', yaml);
  const v = hostVars(inv, inv.nodes[0], {
    roleDefaults: { a: 'role', z: 'role', d: 'role' },
    playVars: { c: 'play', d: 'play' },
    facts: { d: 'fact', inventory_hostname: 'spoofed' },
  });
  assert.equal(v.z, 'role');
  assert.equal(v.a, 'inv-default');
  assert.equal(v.b, 'node');
  assert.equal(v.c, 'play');
  assert.equal(v.d, 'fact');
  assert.equal(v.inventory_hostname, 'x');
  assert.deepEqual(v.groups, { all: ['x'], node: ['x'] });
  assert.equal((v.cluster as { name: string }).name, 't');
});

test('redactVars hides secret-looking values (by name, nested) and keeps the rest', () => {
  const shown = redactVars({ cluster_password: 'hunter2', nested: { nkey_seed: 'SUAX', api_token: '' }, private_key: 'k', monkey: 'm', port: 22, passthrough: 'x' });
  assert.match(String(shown.cluster_password), /^<redacted sha256:[0-9a-f]{8}>$/);
  assert.match(String(shown.nested.nkey_seed), /^<redacted/);
  assert.match(String(shown.private_key), /^<redacted/);
  assert.equal(shown.nested.api_token, '');
  assert.equal(shown.port, 22);
  assert.doesNotMatch(JSON.stringify(shown), /hunter2|SUAX/);
  // 'monkey' ends in key and 'passthrough' contains pass: both look secret and are hidden, by design.
  assert.match(String(shown.monkey), /^<redacted/);
  assert.match(String(shown.passthrough), /^<redacted/);
});

test('a secret written in clear in vars is a warning with its position; paths and templates are not', () => {
  const yaml =
    'cluster:\n  name: t\ndefaults:\n  vars:\n    tls_key: /etc/unibus/tls.key\n    api_token: "{{ lookup_token }}"\nnodes:\n' +
    '  - name: a\n    public_ip: 10.0.0.1\n    vars:\n      cluster_password: hunter2\n';
  const inv = loadInventory('/virtual/s.yaml', yaml);
  assert.deepEqual(inv.warnings, [
    '/virtual/s.yaml:11:25: nodes[0].vars.cluster_password looks like a secret written in clear; keep it in a file under secrets/ (gitignored)',
  ]);
});
