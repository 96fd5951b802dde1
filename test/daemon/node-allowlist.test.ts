// startNode in this process with a real nats-server child: the app through its
// fetch handler, and live allowlist changes (re-render, -t, atomic write, SIGHUP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { parseFlags } from '../../src/daemon/flags.js';
import { runPreflight } from '../../src/daemon/preflight.js';
import { startNode, type MembershipNode } from '../../src/daemon/node.js';
import { createControlApp, toFetchHandler } from '../../src/daemon/http/app.js';
import { NatsConfInvalidError } from '../../src/daemon/nats/validate.js';
import { freePort } from '../harness/ports.js';

const HOST = '127.0.0.38';

test('in-process node: fetch-handler healthz and live allowlist', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-acl-'));
  let node: MembershipNode | undefined;
  t.after(async () => {
    const pid = node?.childPid;
    await node?.stop().catch(() => {});
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await rm(dir, { recursive: true, force: true });
  });
  const nats = await freePort(HOST);
  const o = parseFlags(['--bind', HOST, '--nats-port', String(nats), '--http-port', String(await freePort(HOST)), '--state-dir', join(dir, 's'), '--server-name', 'acl'], {});
  node = await startNode(o, await runPreflight(o, {}), () => {});
  await node.ready;
  const fetchApp = toFetchHandler(createControlApp({ node }));

  await t.test('GET /healthz through the fetch handler', async () => {
    const res = await fetchApp(new Request('http://x/healthz'));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, 'ok');
    assert.equal(body.node.server_name, 'acl');
  });

  const user = createUser();
  const servers = `${HOST}:${nats}`;
  const asUser = () => connect({ servers, authenticator: nkeyAuthenticator(user.getSeed()), timeout: 3000, maxReconnectAttempts: 0 });

  await t.test('an unknown nkey is refused', async () => {
    await assert.rejects(asUser(), /Authorization Violation|AUTHORIZATION/i);
  });

  await t.test('added user connects, uses its subjects, is refused elsewhere; removal cuts it', async () => {
    const perms = { publish: { allow: ['unibus.room.r1.>'], deny: ['$JS.>'] }, subscribe: { allow: ['unibus.room.r1.>', '_INBOX.>'] } };
    assert.equal(await node!.setAllowlist([{ nkey: user.getPublicKey(), permissions: perms }]), true);
    assert.equal(await node!.setAllowlist([{ nkey: user.getPublicKey(), permissions: perms }]), false, 'unchanged list must not reload');
    const conf = await readFile(join(dir, 's', 'nats.conf'), 'utf8');
    assert.ok(conf.includes(user.getPublicKey()));
    // SIGHUP is asynchronous; retry the connect briefly (bounded).
    let nc;
    for (let i = 0; i < 30 && !nc; i++) nc = await asUser().catch(() => new Promise((r) => setTimeout(r, 100)).then(() => undefined));
    assert.ok(nc, 'user could not connect after the reload');
    const sub = nc.subscribe('unibus.room.r1.x', { max: 1 });
    nc.publish('unibus.room.r1.x', 'hi');
    for await (const m of sub) assert.equal(m.string(), 'hi');
    const errs: string[] = [];
    void (async () => { for await (const s of nc.status()) if (s.type === 'error') errs.push(String((s as { error?: unknown }).error)); })();
    nc.subscribe('$JS.API.>');
    await nc.flush();
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(errs.some((e) => /Permissions Violation/i.test(e)), `no permission error: ${errs.join(';')}`);

    const closed = nc.closed();
    assert.equal(await node!.setAllowlist([]), true);
    const r = await Promise.race([closed.then(() => 'closed'), new Promise((res) => setTimeout(() => res('open'), 5000))]);
    assert.equal(r, 'closed');
  });

  await t.test('an allowlist nats-server rejects is refused and the old config stays', async () => {
    const before = await readFile(join(dir, 's', 'nats.conf'), 'utf8');
    await assert.rejects(node!.setAllowlist([{ nkey: 'Unot-a-key' }]), NatsConfInvalidError);
    assert.equal(await readFile(join(dir, 's', 'nats.conf'), 'utf8'), before);
  });
});
