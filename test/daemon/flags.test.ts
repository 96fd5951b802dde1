import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envName, FlagError, parseFlags } from '../../src/daemon/flags.js';

const refuse = (argv: string[], re: RegExp, env: NodeJS.ProcessEnv = {}) =>
  assert.throws(() => parseFlags(argv, env), (e: Error) => e instanceof FlagError && re.test(e.message));

const ROUTE_TLS = ['--route-tls-cert', 'r.crt', '--route-tls-key', 'r.key', '--route-tls-ca', 'ca.crt'];

test('defaults: single loopback node, kv R1, fsync always, state under local_files/', () => {
  const o = parseFlags([], {});
  assert.equal(o.bind, '127.0.0.1');
  assert.equal(o.httpPort, 8470);
  assert.equal(o.natsPort, 4250);
  assert.equal(o.clusterPort, 6250);
  assert.equal(o.busAuth, 'enforce');
  assert.equal(o.store, 'kv');
  assert.equal(o.kvReplicas, 1);
  assert.equal(o.nonceStore, 'disk');
  assert.equal(o.syncInterval, 'always');
  assert.equal(o.clusterName, undefined);
  assert.ok(o.natsStore.startsWith('local_files/'));
  assert.ok(o.internalIdFile.startsWith('local_files/'));
});

test('--nonce-store memory, also from UNIBUS_NONCE_STORE', () => {
  assert.equal(parseFlags(['--nonce-store', 'memory'], {}).nonceStore, 'memory');
  assert.equal(parseFlags([], { UNIBUS_NONCE_STORE: 'memory' }).nonceStore, 'memory');
});

test('every flag is read from UNIBUS_<FLAG> and argv wins', () => {
  assert.equal(envName('http-port'), 'UNIBUS_HTTP_PORT');
  const o = parseFlags(['--nats-port', '4999'], { UNIBUS_HTTP_PORT: '9000', UNIBUS_NATS_PORT: '4000', UNIBUS_KV_REPLICAS: '3', UNIBUS_SERVER_NAME: 'x', UNIBUS_NATS_DEBUG: '1' });
  assert.equal(o.httpPort, 9000);
  assert.equal(o.natsPort, 4999);
  assert.equal(o.kvReplicas, 3);
  assert.equal(o.serverName, 'x');
  assert.equal(o.debug, true);
});

test('refusals', async (t) => {
  await t.test('a cluster without --bus-auth enforce', () =>
    refuse(['--cluster-name', 'c', '--routes', 'nats-route://127.0.0.32:6250', '--bus-auth', 'off'], /cluster needs --bus-auth enforce/));
  await t.test('a non-loopback cluster without a route secret', () =>
    refuse(['--bind', '10.99.1.11', '--cluster-name', 'c', ...ROUTE_TLS], /needs a route secret/));
  await t.test('a non-loopback cluster without route TLS', () =>
    refuse(['--bind', '10.99.1.11', '--cluster-name', 'c', '--cluster-pass-file', 'p'], /needs route TLS/));
  await t.test('partial route TLS', () => refuse(['--route-tls-cert', 'a', '--route-tls-key', 'b'], /all or nothing/));
  await t.test('--cluster-pass in argv, never echoing it', () => {
    assert.throws(() => parseFlags(['--cluster-pass', 'hunter2'], {}), (e: Error) => /--cluster-pass is refused/.test(e.message) && !e.message.includes('hunter2'));
    assert.throws(() => parseFlags(['--cluster-pass=hunter2'], {}), (e: Error) => !e.message.includes('hunter2'));
  });
  await t.test('userinfo in --routes', () =>
    refuse(['--cluster-name', 'c', '--routes', 'nats-route://u:hunter2@127.0.0.32:6250'], /must not carry userinfo/));
  await t.test('--bus-auth off on a non-loopback bind', () => refuse(['--bind', '0.0.0.0', '--bus-auth', 'off'], /only allowed on a loopback/));
  await t.test('bad values name the flag and what was expected', () => {
    refuse(['--http-port', 'abc'], /--http-port: "abc".*expected an integer/);
    refuse(['--kv-replicas', '2'], /--kv-replicas.*expected 1, 3 or 5/);
    refuse(['--store', 'sql'], /--store.*expected kv/);
    refuse(['--nonce-store', 'ram'], /--nonce-store: "ram" \(expected disk or memory\)/);
    refuse(['--sync-interval', 'soon'], /--sync-interval/);
    refuse(['--routes', 'nats-route://127.0.0.32'], /--cluster-name|no port/);
    refuse(['--tls-cert', 'a', '--tls-key', 'b'], /--tls-ca together/);
    refuse(['--nope'], /bad arguments/);
  });
  await t.test('a loopback cluster may run without a secret (dev stack)', () => {
    const o = parseFlags(['--cluster-name', 'c', '--routes', 'nats-route://127.0.0.32:6250'], {});
    assert.deepEqual(o.routes, ['nats-route://127.0.0.32:6250']);
  });
  await t.test('the env secret counts as a route secret', () => {
    const o = parseFlags(['--bind', '10.99.1.11', '--cluster-name', 'c', ...ROUTE_TLS], { UNIBUS_CLUSTER_PASS: 's' });
    assert.equal(o.clusterPassFromEnv, true);
    assert.ok(!JSON.stringify(o).includes('"s"'));
  });
});
