import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { injectRouteAuth, renderNatsConf, type NatsConf } from '../../src/daemon/nats/conf.js';
import { checkNatsVersion, parseNatsVersion, validateConfFile, NatsConfInvalidError } from '../../src/daemon/nats/validate.js';
import { Secret } from '../../src/secret.js';
import { makeCa, makeLeaf } from '../harness/certs.js';
import { NATS_BIN } from '../harness/nats-server.js';

const BIN = NATS_BIN;
const internal = createUser().getPublicKey();
const member = createUser().getPublicKey();

function base(dir: string): NatsConf {
  return {
    serverName: 'n1', host: '127.0.0.31', port: 4250, monitorPort: 8222, storeDir: join(dir, 'js'),
    syncInterval: 'always', internalNkey: internal, allowlist: [], lameDuckDuration: '30s', lameDuckGracePeriod: '2s',
  };
}

async function validate(dir: string, text: string): Promise<void> {
  const f = join(dir, `c${Math.random()}.conf`);
  await writeFile(f, text, { mode: 0o600 });
  await validateConfFile(BIN, f);
}

test('conf rendering', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-conf-'));
  t.after(() => rm(dir, { recursive: true, force: true }));

  await t.test('standalone node: loopback monitor, fsync always, internal user; nats-server -t accepts it', async () => {
    const text = renderNatsConf(base(dir));
    assert.match(text, /^http: "127\.0\.0\.1:8222"$/m);
    assert.match(text, /sync_interval: always/);
    assert.match(text, new RegExp(`nkey: "${internal}"`));
    assert.doesNotMatch(text, /cluster \{/);
    assert.doesNotMatch(text, /^tls/m);
    await validate(dir, text);
  });

  await t.test('relaxed sync interval is quoted as a duration', async () => {
    const text = renderNatsConf({ ...base(dir), syncInterval: '1m' });
    assert.match(text, /sync_interval: "1m"/);
    await validate(dir, text);
  });

  await t.test('cluster with secret, mutual TLS, no_advertise, single route, allowlist permissions', async () => {
    const route = makeCa(join(dir, 'pki'), 'route-ca');
    const leaf = makeLeaf(route, 'n1-route', ['127.0.0.31']);
    const client = makeCa(join(dir, 'pki'), 'client-ca');
    const srv = makeLeaf(client, 'n1-client', ['127.0.0.31'], 'serverAuth');
    const pass = 'p@ss:w"o/rd \\ x';
    const text = renderNatsConf({
      ...base(dir),
      tls: { cert: srv.cert, key: srv.key },
      cluster: {
        name: 'c1', host: '127.0.0.31', port: 6250,
        routes: ['nats-route://127.0.0.32:6250', 'nats-route://127.0.0.33:6250'],
        auth: { user: 'unibus-route', pass: new Secret(pass) },
        tls: { cert: leaf.cert, key: leaf.key, ca: route.cert },
      },
      allowlist: [{ nkey: member, permissions: { publish: { allow: ['unibus.room.r1.>'], deny: ['$JS.>', '$KV.>'] }, subscribe: { allow: ['_INBOX.>'] } } }],
    });
    assert.match(text, /no_advertise: true/);
    assert.match(text, /pool_size: 1$/m);
    assert.match(text, /verify: true/);
    assert.match(text, /routes: \["nats-route:\/\/unibus-route:[^"]+@127\.0\.0\.32:6250\/?", "nats-route:/);
    assert.ok(text.includes(`nats-route://unibus-route:${encodeURIComponent(pass)}@127.0.0.32:6250`));
    assert.match(text, /deny: \["\$JS\.>", "\$KV\.>"\]/);
    await validate(dir, text);
  });

  await t.test('the internal user is kept once even if the allowlist names it', () => {
    const text = renderNatsConf({ ...base(dir), allowlist: [{ nkey: internal, permissions: { publish: { deny: ['>'] } } }] });
    assert.equal(text.split(internal).length - 1, 1);
    assert.doesNotMatch(text, /deny: \[">"\]/);
  });

  await t.test('bus auth off renders no authorization block', () => {
    assert.doesNotMatch(renderNatsConf({ ...base(dir), internalNkey: null }), /authorization/);
  });

  await t.test('same input, same bytes', () => {
    assert.equal(renderNatsConf(base(dir)), renderNatsConf(base(dir)));
  });

  await t.test("the system identity is $SYS's one user, the others stay global; none: no accounts block", async () => {
    const sys = createUser().getPublicKey();
    const text = renderNatsConf({ ...base(dir), systemNkey: sys });
    const accounts = text.slice(text.indexOf('accounts {'));
    assert.match(accounts, /^accounts \{\n {2}\$SYS \{\n {4}users: \[\n {6}\{\n {8}nkey: "U[A-Z2-7]{55}"\n {6}\}\n {4}\]\n {2}\}\n\}\n$/);
    assert.ok(accounts.includes(sys));
    assert.ok(!accounts.includes(internal), 'the internal user is not in $SYS');
    await validate(dir, text);
    assert.doesNotMatch(renderNatsConf(base(dir)), /accounts/);
  });

  await t.test('nats-server -t rejects a broken conf with its own message', async () => {
    await assert.rejects(validate(dir, 'listen: "127.0.0.1:4250"\nlame_duck_duration: "5s"\n'), (e: Error) => e instanceof NatsConfInvalidError && /lame_duck_duration/.test(e.message));
  });
});

test('route auth injection encodes any byte', () => {
  const u = injectRouteAuth('nats-route://10.99.1.12:6250', 'u', 'a@b:c/d%');
  const parsed = new URL(u);
  assert.equal(decodeURIComponent(parsed.password), 'a@b:c/d%');
  assert.equal(parsed.host, '10.99.1.12:6250');
});

test('nats-server version check', async () => {
  assert.deepEqual(parseNatsVersion('nats-server: v2.10.27'), [2, 10, 27]);
  assert.deepEqual(parseNatsVersion('nats-server: v2.9.10'), [2, 9, 10]);
  assert.equal(parseNatsVersion('nope'), null);
  const v = await checkNatsVersion(BIN);
  assert.match(v, /^2\.(1\d|[2-9]\d)\.\d+$/);
});
