// The cluster templates rendered for the default and the production
// inventories: the env file says what membershipd must read (and no secret),
// membershipd's own flag parser accepts it, and every rendered unit passes
// `systemd-analyze verify`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseFlags } from '../../src/daemon/flags.js';
import { loadInventory } from '../../src/inventory/load.js';
import { ROOT } from '../harness/root.js';
import { parseEnvFile, renderForNodes } from './render.js';

const INVENTORIES = [`${ROOT}inventory.yaml`, `${ROOT}examples/production.yaml`];
const tmp = mkdtempSync(join(tmpdir(), 'unibus-units-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

for (const invFile of INVENTORIES) {
  const inv = loadInventory(invFile);
  const label = invFile.replace(ROOT, '');

  test(`${label}: cluster.env per node routes to the other nodes and names files, never secrets`, () => {
    const envs = renderForNodes(invFile, 'cluster.env.j2');
    assert.equal(envs.size, inv.nodes.length);
    for (const node of inv.nodes) {
      const text = envs.get(node.name)!;
      const env = parseEnvFile(text);
      assert.equal(env.get('UNIBUS_SERVER_NAME'), node.name);
      assert.equal(env.get('UNIBUS_CLUSTER_NAME'), inv.cluster.name);
      assert.equal(env.get('UNIBUS_KV_REPLICAS'), String(inv.cluster.kv_replicas));
      assert.equal(env.get('UNIBUS_BUS_AUTH'), 'enforce');
      const peers = inv.nodes.filter((n) => n !== node);
      const routes = env.get('UNIBUS_ROUTES')!.split(',');
      assert.deepEqual(routes, peers.map((p) => `nats-route://${p.public_ip}:${inv.cluster.ports.route}`));
      assert.ok(!routes.some((r) => r.includes(node.public_ip + ':')), 'no route to itself');
      assert.match(env.get('UNIBUS_CLUSTER_PASS_FILE')!, /\/cluster\.pass$/);
      assert.ok(!env.has('UNIBUS_CLUSTER_PASS'), 'the secret itself is never in the env file');
      assert.match(env.get('UNIBUS_INTERNAL_ID_FILE')!, new RegExp(`/${node.name}/internal\\.nk$`));
      // What membershipd itself makes of it: a clustered, enforcing, TLS node.
      const o = parseFlags([], Object.fromEntries(env));
      assert.equal(o.serverName, node.name);
      assert.equal(o.bind, node.public_ip);
      assert.equal(o.clusterPort, inv.cluster.ports.route);
      assert.equal(o.httpPort, inv.cluster.ports.http);
      assert.equal(o.syncInterval, 'always');
      assert.ok(o.tls && o.routeTls, 'data-plane and route TLS');
      assert.equal(o.kvReplicas, inv.cluster.kv_replicas);
      // sh can source it (the process manager does `set -a; . FILE`).
      const r = spawnSync('sh', ['-c', 'set -a; . "$1"; echo "$UNIBUS_ROUTES"', 'sh', writeTmp(`${node.name}.env`, text)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), env.get('UNIBUS_ROUTES'));
    }
  });

  test(`${label}: every rendered unit passes systemd-analyze verify`, () => {
    // verify needs ExecStart's binary to exist: point node_bin at this node.
    const units = [
      ...[...renderForNodes(invFile, 'membershipd-cluster.service.j2', { node_bin: process.execPath })].map(([n, t]) => [`membershipd-${n}.service`, t] as const),
      ...[...renderForNodes(invFile, 'unibus-membershipd.service.j2', { node_bin: process.execPath })].map(([n, t]) => [`unibus-membershipd-${n}.service`, t] as const),
    ];
    for (const [name, text] of units) {
      assert.match(text, /^ExecStart=\S+ --max-semi-space-size=1 \S+\/app\/membershipd\.mjs$/m, "node, the flags of roles/unibus_node, the bundle");
      assert.match(text, /^Restart=always$/m);
      assert.match(text, /^LimitNOFILE=65536$/m);
      const file = writeTmp(name, text);
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8', timeout: 30_000 });
      const complaints = (r.stderr + r.stdout).split('\n').filter((l) => l.includes(name) || /Unknown|Invalid|Failed|not/.test(l));
      assert.equal(r.status, 0, `${name}:\n${r.stderr}${r.stdout}`);
      assert.deepEqual(complaints, [], `${name}:\n${r.stderr}`);
    }
  });
}

test('route_network wg: routes and listeners on the WireGuard addresses', () => {
  const f = writeTmp('wg.yaml', [
    'cluster: { name: wgc, route_network: wg, kv_replicas: 3 }',
    'nodes:',
    '  - { name: a, public_ip: 192.0.2.1, wg_ip: 10.8.0.1 }',
    '  - { name: b, public_ip: 192.0.2.2, wg_ip: 10.8.0.2 }',
    '  - { name: c, public_ip: 192.0.2.3, wg_ip: 10.8.0.3 }',
    '',
  ].join('\n'));
  const envs = renderForNodes(f, 'cluster.env.j2');
  const a = parseEnvFile(envs.get('a')!);
  assert.equal(a.get('UNIBUS_BIND'), '10.8.0.1');
  assert.equal(a.get('UNIBUS_ROUTES'), 'nats-route://10.8.0.2:6250,nats-route://10.8.0.3:6250');
  const o = parseFlags([], Object.fromEntries(a));
  assert.equal(o.bind, '10.8.0.1');
  assert.deepEqual(o.routes, ['nats-route://10.8.0.2:6250', 'nats-route://10.8.0.3:6250']);
});

test('one node alone: cluster.env names no cluster and no routes (its peers, an empty list, are false in the template as in Jinja)', () => {
  const f = writeTmp('one.yaml', ['cluster: { name: solo, kv_replicas: 1 }', 'nodes:', '  - { name: a, public_ip: 192.0.2.1 }', ''].join('\n'));
  const env = parseEnvFile(renderForNodes(f, 'cluster.env.j2').get('a')!);
  assert.equal(env.get('UNIBUS_SERVER_NAME'), 'a');
  assert.deepEqual(['UNIBUS_CLUSTER_NAME', 'UNIBUS_CLUSTER_PORT', 'UNIBUS_ROUTES'].filter((k) => env.has(k)), []);
});

test('the cluster unit is hardened yet can write its state folder and stops through lame duck', () => {
  const [[node, text]] = [...renderForNodes(INVENTORIES[1]!, 'membershipd-cluster.service.j2')];
  for (const opt of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes']) assert.ok(text.includes(`\n${opt}\n`), opt);
  assert.ok(text.includes(`\nReadWritePaths=/var/lib/unibus/${node}\n`));
  assert.ok(text.includes(`\nEnvironmentFile=/var/lib/unibus/${node}/cluster.env\n`));
  const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(text)![1]);
  // nats-server's lame duck lasts at most 30 s (lame_duck_duration in the rendered nats.conf).
  assert.ok(stop > 30, `TimeoutStopSec=${stop} must cover a 30 s lame duck`);
  // The analyzer itself refuses a broken unit (so the verify test above can fail).
  const bad = writeTmp('broken.service', text.replace('Restart=always', 'Restart=sometimes'));
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', bad], { encoding: 'utf8', timeout: 30_000 });
  assert.ok(r.status !== 0 || /restart specifier/i.test(r.stderr), 'a bad Restart= value is reported');
});

function writeTmp(name: string, text: string): string {
  const f = join(tmp, name);
  writeFileSync(f, text);
  return f;
}

