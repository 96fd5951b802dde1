// A bad handle, role or signing key is refused the same way on every path
// into the users bucket (the store itself, the HTTP API, `membershipd user
// add`, the cluster_user module and its controller step, the inventory's
// cluster.admin), and nothing is written: no record, no key reservation.
// One real nats-server with client TLS, laid out as the controller sees a
// node (out/<node>/internal.nk and ca.pem), so the step connects for real.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { makeServers, startServers, stopServers, type TestNatsServer } from '../harness/nats-server.js';
import { makeInternal, makeUser } from '../harness/control-plane.js';
import { clientFor, makeV1Handler } from '../harness/control-app.js';
import { makeCa, makeLeaf } from '../harness/certs.js';
import { fakeHost, makeCtx } from '../modules/helpers.js';
import { assertConfigError, catchConfigErrors } from '../fixtures/expect-config.js';
import { ApiClientError, type UnibusClient } from '../../src/client/client.js';
import { stepArgv } from '../../src/controller/steps/step.js';
import { probeNodes } from '../../src/controller/probe/nodes.js';
import { run as userCmd } from '../../src/daemon/commands/user.js';
import { connectInternal } from '../../src/daemon/nats/connect.js';
import { openStoreWithRetry, type Store } from '../../src/daemon/store/buckets.js';
import { FieldError } from '../../src/protocol/errors.js';
import { listKeys } from '../../src/daemon/store/kvjson.js';
import { HANDLE_EXPECTED, HEX32_EXPECTED, ROLE_EXPECTED, SIGN_PUB_TEXT_EXPECTED } from '../../src/protocol/model.js';
import { addUser, getUser, revokeUser } from '../../src/daemon/store/users.js';
import { loadInventory } from '../../src/inventory/load.js';
import { cluster_user } from '../../src/modules/cluster/admin.js';
import { nodesOf } from '../../src/modules/cluster/node-view.js';
import type { ArgsOf } from '../../src/modules/define.js';
import { ModuleArgsError } from '../../src/modules/errors.js';
import { nodeFiles } from '../../src/pki/layout.js';
import { Secret } from '../../src/secret.js';

const HOST = '127.0.0.42';
const NODE = 'n1';
const INVENTORY = '/virtual/inventory.yaml';
const id = makeInternal();
const seedText = new TextDecoder().decode(id.seed);
let dir: string;
let caFile: string;
let idFile: string;
let servers: TestNatsServer[] = [];
let nc: NatsConnection;
let store: Store;
let A: UnibusClient;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unibus-user-paths-'));
  const ca = makeCa(join(dir, 'pki'), 'client-ca');
  caFile = ca.cert;
  servers = await makeServers({ hosts: [HOST], internalNkey: id.publicKey });
  servers[0].conf = { ...servers[0].conf, tls: makeLeaf(ca, NODE, [HOST], 'serverAuth') };
  await startServers(servers);
  const f = nodeFiles(join(dir, 'out'), NODE);
  await mkdir(f.dir, { recursive: true });
  await writeFile(f.internalSeed, seedText + '\n', { mode: 0o600 });
  await copyFile(caFile, f.clientCa);
  idFile = f.internalSeed;
  nc = await connectInternal({ servers: servers[0].url, seed: new Secret(seedText), caFile });
  store = await openStoreWithRetry(nc, { replicas: 1 }, 60_000);
  const admin = makeUser('admin');
  await addUser(store, { handle: 'admin', sign_pub: admin.sign_pub, role: 'admin' });
  A = clientFor(admin, makeV1Handler({ store }));
});

after(async () => {
  await nc?.close().catch(() => {});
  await stopServers(servers);
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Bad {
  handle: string;
  /** Bare hex, as the store, the API and the operator command take it. */
  signPub: string;
  role: string | undefined;
}

/** Every key of the users bucket that holds a value: records and `pub.` reservations alike (a deleted one is listed, and left out here). */
async function bucketKeys(): Promise<string[]> {
  const out: string[] = [];
  for (const k of await listKeys(store.kv.users)) if ((await store.kv.users.get(k))?.operation === 'PUT') out.push(k);
  return out;
}

async function refusedWith(p: Promise<unknown>, check: (e: unknown) => void): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, 'expected a refusal, it was accepted');
  check(caught);
}

async function operatorAdd(u: Bad): Promise<{ code: number; stderr: string }> {
  const args = ['add', '--handle', u.handle, '--sign-pub', u.signPub, ...(u.role === undefined ? [] : ['--role', u.role])];
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += String(c)), true)) as typeof process.stderr.write;
  try {
    const code = await userCmd([...args, '--nats-url', servers[0].url, '--ca', caFile, '--internal-id-file', idFile]);
    return { code, stderr };
  } finally {
    process.stderr.write = write;
  }
}

function moduleCtx() {
  const nodes = [{ name: NODE, route_ip: HOST, ports: { http: 1, nats: servers[0].conf.port } }];
  return makeCtx(fakeHost('controller'), { vars: { nodes }, baseDirs: [dir] });
}

function runStep(argv: string[], stdin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

/** What the cluster_user module hands its controller step, bypassing the module's own checks. */
function stepInput(u: Bad): string {
  return JSON.stringify({ nodes: probeNodes(nodesOf('cluster_user', moduleCtx().vars)), outDir: join(dir, 'out'), handle: u.handle, signPub: u.signPub, ...(u.role === undefined ? {} : { role: u.role }) });
}

function inventoryYaml(handle: string, pubkey: string): string {
  return ['cluster:', '  name: t', '  admin:', `    handle: ${handle}`, '    pubkeys:', `      - ${pubkey}`, 'nodes:', '  - name: a', '    public_ip: 10.0.0.1', ''].join('\n');
}

/**
 * Sends `u` down every path. `field` is what each path calls the bad field,
 * `expected` what each says it must be; then checks the bucket is untouched
 * and the key is still free: the module plans a valid add with it and its
 * controller step writes it.
 */
async function refusedEverywhere(
  u: Bad,
  key: string,
  field: { store: string; operator: string; module: string },
  expected: { store: string; module: string },
): Promise<void> {
  const keys = await bucketKeys();
  const storeMsg = `${field.store}: expected ${expected.store}`;

  await refusedWith(addUser(store, { handle: u.handle, sign_pub: u.signPub, role: u.role }), (e) => {
    assert.ok(e instanceof FieldError, String(e));
    assert.equal(e.field, field.store);
    assert.equal(e.message, storeMsg);
  });

  await refusedWith(A.addUser({ handle: u.handle, sign_pub: u.signPub, role: u.role as 'member' }), (e) => {
    assert.ok(e instanceof ApiClientError, String(e));
    assert.equal(e.status, 400);
    assert.equal(e.code, 'bad_request');
    assert.equal(e.message, `400 bad_request: ${storeMsg}`);
  });

  const op = await operatorAdd(u);
  assert.equal(op.code, 1, op.stderr);
  assert.equal(op.stderr, `membershipd user add: ${field.operator}: expected ${expected.store}\n`);

  // Straight to plan(), past the schema: the module still refuses in the store's words.
  const args = { handle: u.handle, pubkey: `ed25519:${u.signPub}`, ...(u.role === undefined ? {} : { role: u.role }) } as ArgsOf<typeof cluster_user>;
  await refusedWith(cluster_user.plan(args, moduleCtx()), (e) => {
    assert.ok(e instanceof ModuleArgsError, String(e));
    assert.equal(e.message, `cluster_user: ${field.module}: expected ${expected.module}`);
  });

  const step = await runStep(stepArgv('admin'), stepInput(u));
  assert.equal(step.code, 1, step.stdout + step.stderr);
  assert.equal(step.stderr, `admin: ${storeMsg}\n`);

  assert.deepEqual(await bucketKeys(), keys, 'a refused add wrote to the users bucket');
  assert.equal(await getUser(store, u.handle), null);

  // The key is free: the module plans its add, and the step it plans writes it.
  const plan = await cluster_user.plan({ handle: `ok-${key.slice(0, 8)}`, pubkey: `ed25519:${key.toUpperCase()}`, role: 'member' }, moduleCtx());
  assert.equal(plan.changed, true, plan.reason);
  const cmd = plan.commands[0];
  assert.ok(cmd?.kind === 'exec' && typeof cmd.stdin === 'string');
  const added = await runStep(cmd.argv, cmd.stdin);
  assert.equal(added.code, 0, added.stderr);
  const ok = await getUser(store, `ok-${key.slice(0, 8)}`);
  assert.equal(ok?.sign_pub, key);
  assert.equal(ok?.role, 'member');
}

test('a bad handle (u1) is refused on every path and claims no key', async () => {
  const key = makeUser('k').sign_pub;
  await refusedEverywhere(
    { handle: 'u1', signPub: key, role: 'member' },
    key,
    { store: 'handle', operator: '--handle', module: 'handle' },
    { store: HANDLE_EXPECTED, module: HANDLE_EXPECTED },
  );

  const errors = catchConfigErrors(() => loadInventory(INVENTORY, inventoryYaml('u1', `ed25519:${key}`)));
  assertConfigError(errors, INVENTORY, { line: 4, col: 13, path: 'cluster.admin.handle', msg: `invalid value "u1" (expected a user handle: ${HANDLE_EXPECTED})` });

  // A key reservation is no user: revoking it would rewrite the index entry.
  const idx = await bucketKeys();
  await refusedWith(revokeUser(store, `pub.${key}`), (e) => assert.ok(e instanceof FieldError && e.field === 'handle', String(e)));
  assert.deepEqual(await bucketKeys(), idx);
});

test('a bad role (root, or none at the controller step) is refused on every path', async () => {
  const key = makeUser('k').sign_pub;
  await refusedEverywhere(
    { handle: 'erin', signPub: key, role: 'root' },
    key,
    { store: 'role', operator: '--role', module: 'role' },
    { store: ROLE_EXPECTED, module: ROLE_EXPECTED },
  );

  // A step given no role must not default to making an admin.
  const keys = await bucketKeys();
  const other = makeUser('k').sign_pub;
  const step = await runStep(stepArgv('admin'), stepInput({ handle: 'frank', signPub: other, role: undefined }));
  assert.equal(step.code, 1, step.stdout + step.stderr);
  assert.equal(step.stderr, `admin: role: expected ${ROLE_EXPECTED}\n`);
  assert.deepEqual(await bucketKeys(), keys);

  // The inventory's admin has no role to get wrong: a `role` key is refused by name.
  const yaml = inventoryYaml('ops', `ed25519:${other}`).replace('    pubkeys:', '    role: root\n    pubkeys:');
  assertConfigError(catchConfigErrors(() => loadInventory(INVENTORY, yaml)), INVENTORY, { line: 5, col: 5, path: 'cluster.admin.role', msg: "unknown key 'role'" });
});

test('a bad signing key (63 hex digits) is refused on every path', async () => {
  const key = makeUser('k').sign_pub;
  await refusedEverywhere(
    { handle: 'grace', signPub: key.slice(1), role: 'member' },
    key,
    { store: 'sign_pub', operator: '--sign-pub', module: 'pubkey' },
    { store: HEX32_EXPECTED, module: SIGN_PUB_TEXT_EXPECTED },
  );

  const errors = catchConfigErrors(() => loadInventory(INVENTORY, inventoryYaml('ops', `ed25519:${key.slice(1)}`)));
  assertConfigError(errors, INVENTORY, { line: 6, col: 9, path: 'cluster.admin.pubkeys[0]', msg: `(expected ${SIGN_PUB_TEXT_EXPECTED})` });
  // The forms the inventory may use, as written by `unibus pki` and people, still load.
  for (const k of [`ed25519:${key}`, key, `ED25519:${key.toUpperCase()}`]) loadInventory(INVENTORY, inventoryYaml('ops', k));
});
