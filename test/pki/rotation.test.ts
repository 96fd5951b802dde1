// Route CA rotation: new CA beside the old, bundles of both, then drop the old.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RotationStateError, applyPki, isNoop, nodeFiles, planPki, secretFiles } from '../../src/pki/index.js';
import { NODES, makeWorkdir } from './fixture.js';

const verifies = (caFile: string, leaf: string) => spawnSync('openssl', ['verify', '-CAfile', caFile, leaf], { timeout: 10_000 }).status === 0;
const certsIn = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;

describe('route CA rotation', () => {
  let w: Awaited<ReturnType<typeof makeWorkdir>>;
  let s: ReturnType<typeof secretFiles>;
  let n1: ReturnType<typeof nodeFiles>;
  let oldCaPem: string;
  let oldLeaf: string;
  let serverFp: string | undefined;
  before(async () => {
    w = await makeWorkdir();
    s = secretFiles(w.opts().secretsDir);
    n1 = nodeFiles(w.opts().outDir, 'n1');
    const res = await applyPki(await planPki(w.opts()));
    serverFp = res.actions.find((a) => a.kind === 'server-cert' && a.node === 'n1')!.fingerprint;
    oldCaPem = await readFile(s.routeCaCert, 'utf8');
    oldLeaf = join(w.dir, 'n1-route-before.pem');
    await copyFile(n1.routeCert, oldLeaf);
  });
  after(() => w.cleanup());

  it('rotate: the old CA moves aside, route leaves re-mint, bundles carry both, data plane untouched', async () => {
    const plan = await planPki(w.opts({ forceRouteCa: true }));
    const changed = plan.actions.filter((a) => a.op !== 'reuse').map((a) => `${a.node ?? '-'}/${a.kind}:${a.op}`);
    assert.deepEqual(changed.sort(), [
      '-/old-route-ca:retire', '-/route-ca:mint',
      ...NODES.flatMap((n) => [`${n.name}/route-ca-bundle:write`, `${n.name}/route-cert:mint`]),
    ].sort());
    const res = await applyPki(plan);
    assert.equal(await readFile(s.oldRouteCaCert, 'utf8'), oldCaPem);
    assert.equal((await stat(s.oldRouteCaKey)).mode & 0o777, 0o600);
    const newCaPem = await readFile(s.routeCaCert, 'utf8');
    assert.notEqual(newCaPem, oldCaPem);
    const bundle = await readFile(n1.routeCaBundle, 'utf8');
    assert.equal(certsIn(bundle), 2);
    assert.ok(bundle.startsWith(newCaPem) && bundle.endsWith(oldCaPem));
    // Nodes not yet restarted (old leaf) and restarted ones (new leaf) both verify against the bundle.
    assert.ok(verifies(n1.routeCaBundle, n1.routeCert));
    assert.ok(verifies(n1.routeCaBundle, oldLeaf));
    assert.ok(verifies(s.routeCaCert, n1.routeCert));
    assert.ok(!verifies(s.oldRouteCaCert, n1.routeCert));
    assert.equal(res.actions.find((a) => a.kind === 'server-cert' && a.node === 'n1')!.fingerprint, serverFp);
    assert.ok(isNoop(await planPki(w.opts())), 'a plain mint after rotation changes nothing');
  });

  it('refuses a second rotation before the old CA is dropped', async () => {
    await assert.rejects(planPki(w.opts({ forceRouteCa: true })), (err: Error) => err instanceof RotationStateError && /drop-old-route-ca/.test(err.message));
  });

  it('drop-old-route-ca removes the old CA from secrets and bundles', async () => {
    const plan = await planPki(w.opts({ dropOldRouteCa: true }));
    const changed = plan.actions.filter((a) => a.op !== 'reuse').map((a) => `${a.node ?? '-'}/${a.kind}:${a.op}`);
    assert.deepEqual(changed.sort(), ['-/old-route-ca:remove', ...NODES.map((n) => `${n.name}/route-ca-bundle:write`)].sort());
    await applyPki(plan);
    await assert.rejects(stat(s.oldRouteCaCert), { code: 'ENOENT' });
    await assert.rejects(stat(s.oldRouteCaKey), { code: 'ENOENT' });
    const bundle = await readFile(n1.routeCaBundle, 'utf8');
    assert.equal(bundle, await readFile(s.routeCaCert, 'utf8'));
    assert.ok(!verifies(n1.routeCaBundle, oldLeaf));
    assert.ok(verifies(n1.routeCaBundle, n1.routeCert));
    assert.ok(new X509Certificate(bundle).ca);
    assert.ok(isNoop(await planPki(w.opts())));
    assert.ok(isNoop(await planPki(w.opts({ dropOldRouteCa: true }))), 'dropping twice is a no-op');
  });
});
