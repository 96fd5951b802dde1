// planPki/applyPki: idempotency, re-mint reasons, modes, and what a plan may show.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { fromSeed } from '@nats-io/nkeys';
import { after, before, describe, it } from 'node:test';
import { applyPki, formatPlan, isNoop, nodeFiles, planPki, secretFiles } from '../../src/pki/index.js';
import { NODES, makeWorkdir, snapshot } from './fixture.js';

const DAY = 86_400_000;

describe('pki plan and apply', () => {
  let w: Awaited<ReturnType<typeof makeWorkdir>>;
  before(async () => {
    w = await makeWorkdir();
    await applyPki(await planPki(w.opts({ admin: true })));
  });
  after(() => w.cleanup());

  it('a second run mints nothing and leaves every file byte-identical', async () => {
    const before = await snapshot(w.dir);
    const plan = await planPki(w.opts({ admin: true }));
    assert.ok(isNoop(plan), formatPlan(plan, w.dir));
    const res = await applyPki(plan);
    assert.deepEqual(res.changed, []);
    const afterSnap = await snapshot(w.dir);
    assert.deepEqual([...afterSnap.keys()].sort(), [...before.keys()].sort());
    for (const [k, v] of before) {
      assert.ok(v.data.equals(afterSnap.get(k)!.data), `${k} changed`);
      assert.equal(afterSnap.get(k)!.mtimeMs, v.mtimeMs, `${k} rewritten`);
    }
  });

  it('writes the documented layout with folders 0700 and files 0600', async () => {
    const snap = await snapshot(w.dir);
    for (const n of NODES) {
      for (const f of ['ca.pem', 'server.pem', 'server.key', 'route-ca.pem', 'route.pem', 'route.key', 'internal.nk', 'internal.pub']) {
        assert.equal(snap.get(`out/${n.name}/${f}`)?.mode, 0o600, `out/${n.name}/${f}`);
      }
    }
    for (const f of ['client-ca.key', 'client-ca.pem', 'route-ca.key', 'route-ca.pem', 'cluster.pass', 'admin.seed', 'admin.pub']) {
      assert.equal(snap.get(`secrets/${f}`)?.mode, 0o600, `secrets/${f}`);
    }
    for (const [k, v] of snap) if (k.endsWith('/')) assert.equal(v.mode, 0o700, k);
    assert.ok([...snap.keys()].every((k) => !k.includes('.tmp')), 'temp files left behind');
    const pass = (await readFile(secretFiles(w.opts().secretsDir).clusterPass, 'utf8')).trim();
    assert.match(pass, /^[0-9a-f]{64}$/);
    const f = nodeFiles(w.opts().outDir, 'n1');
    const seed = (await readFile(f.internalSeed, 'utf8')).trim();
    assert.match(seed, /^SU[A-Z2-7]+$/);
    assert.equal((await readFile(f.internalPub, 'utf8')).trim(), fromSeed(new TextEncoder().encode(seed)).getPublicKey());
    assert.notEqual(seed, (await readFile(nodeFiles(w.opts().outDir, 'n2').internalSeed, 'utf8')).trim(), 'one identity per node');
  });

  it('reuses the client CA when the node outputs are gone, and signs new leaves with it', async () => {
    const s = secretFiles(w.opts().secretsDir);
    const caPem = await readFile(s.clientCaCert, 'utf8');
    const alt = w.opts({ outDir: w.dir + '/out2' });
    const plan = await planPki(alt);
    assert.equal(plan.actions.find((a) => a.kind === 'client-ca')!.op, 'reuse');
    await applyPki(plan);
    assert.equal(await readFile(s.clientCaCert, 'utf8'), caPem);
    const leaf = new X509Certificate(await readFile(nodeFiles(alt.outDir, 'n2').serverCert));
    assert.ok(leaf.verify(new X509Certificate(caPem).publicKey));
    assert.equal(await readFile(nodeFiles(alt.outDir, 'n2').clientCa, 'utf8'), caPem);
  });
});

describe('pki re-mint decisions', () => {
  let w: Awaited<ReturnType<typeof makeWorkdir>>;
  before(async () => {
    w = await makeWorkdir();
    await applyPki(await planPki(w.opts()));
  });
  after(() => w.cleanup());

  it('re-mints only the leaves of a node whose IP changed, and says which SANs', async () => {
    const nodes = NODES.map((n) => (n.name === 'n1' ? { ...n, publicIp: '203.0.113.99' } : n));
    const plan = await planPki(w.opts({ nodes }));
    const minted = plan.actions.filter((a) => a.op !== 'reuse');
    assert.deepEqual(minted.map((a) => `${a.node}/${a.kind}`).sort(), ['n1/route-cert', 'n1/server-cert']);
    for (const a of minted) assert.equal(a.reason, 'SANs changed (+ip:203.0.113.99 -ip:203.0.113.11)');
    const caBefore = plan.actions.find((a) => a.kind === 'client-ca')!.fingerprint;
    const res = await applyPki(plan);
    const cert = new X509Certificate(await readFile(nodeFiles(w.opts().outDir, 'n1').serverCert));
    assert.match(cert.subjectAltName!, /IP Address:203\.0\.113\.99/);
    assert.doesNotMatch(cert.subjectAltName!, /203\.0\.113\.11/);
    assert.equal(res.actions.find((a) => a.kind === 'client-ca')!.fingerprint, caBefore);
    assert.ok(isNoop(await planPki(w.opts({ nodes }))), 'converged after the re-mint');
  });

  it('re-mints leaves near expiry and keeps them with more than 30 days left', async () => {
    const cert = new X509Certificate(await readFile(nodeFiles(w.opts().outDir, 'n2').routeCert));
    const notAfter = new Date(cert.validTo).getTime();
    const calm = await planPki(w.opts({ now: new Date(notAfter - 40 * DAY) }));
    assert.equal(calm.actions.filter((a) => a.kind === 'route-cert' && a.node === 'n2')[0]!.op, 'reuse');
    const soon = await planPki(w.opts({ now: new Date(notAfter - 12 * DAY) }));
    const a = soon.actions.find((x) => x.kind === 'route-cert' && x.node === 'n2')!;
    assert.equal(a.op, 'mint');
    assert.match(a.reason, /^expires in 1[12] days$/);
    assert.equal(soon.actions.find((x) => x.kind === 'client-ca')!.op, 'reuse');
    await applyPki(soon);
    const renewed = new X509Certificate(await readFile(nodeFiles(w.opts().outDir, 'n2').routeCert));
    assert.ok(new Date(renewed.validTo).getTime() > notAfter + 300 * DAY);
  });
});

describe('pki plans never show key material', () => {
  it('no PEM key, no key bytes, no seeds, no password in the plan, its JSON or the result', async () => {
    const w = await makeWorkdir();
    try {
      const first = await planPki(w.opts({ admin: true }));
      const res = await applyPki(first);
      const second = await planPki(w.opts({ admin: true }));
      const shown = [formatPlan(first, w.dir), JSON.stringify(first), JSON.stringify(res), formatPlan(second, w.dir), JSON.stringify(second)].join('\n');
      const snap = await snapshot(w.dir);
      const secrets: string[] = [];
      for (const [k, v] of snap) {
        const text = v.data.toString('utf8');
        if (k.endsWith('.key')) {
          const body = text.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
          secrets.push(body, ...body.match(/.{16}/g)!);
          secrets.push(Buffer.from(body, 'base64').toString('hex').slice(-64));
        }
        if (k.endsWith('.nk') || k.endsWith('cluster.pass') || k.endsWith('admin.seed')) secrets.push(text.trim());
      }
      assert.ok(secrets.length > 20);
      assert.doesNotMatch(shown, /PRIVATE KEY/);
      for (const sec of secrets) assert.ok(!shown.includes(sec), `secret fragment ${sec.slice(0, 4)}... shown`);
      assert.match(shown, /sha256:[0-9a-f]{64}/, 'fingerprints are shown');
    } finally {
      await w.cleanup();
    }
  });
});

describe('pki partial state and address forms', () => {
  it('repairs exactly what is missing and keeps the rest', async () => {
    const w = await makeWorkdir();
    try {
      await applyPki(await planPki(w.opts()));
      const f = nodeFiles(w.opts().outDir, 'n3');
      const seed = await readFile(f.internalSeed, 'utf8');
      await rm(f.routeCert);
      await rm(f.internalPub);
      await writeFile(f.clientCa, 'stale\n');
      const plan = await planPki(w.opts());
      const changed = plan.actions.filter((a) => a.op !== 'reuse').map((a) => `${a.node}/${a.kind}:${a.op}:${a.reason}`);
      assert.deepEqual(changed.sort(), [
        'n3/client-ca-copy:write:differs from the CA',
        'n3/internal-nkey:write:public key missing',
        'n3/route-cert:mint:certificate missing',
      ]);
      await applyPki(plan);
      assert.equal(await readFile(f.internalSeed, 'utf8'), seed, 'the seed is kept');
      assert.equal(await readFile(f.clientCa, 'utf8'), await readFile(secretFiles(w.opts().secretsDir).clientCaCert, 'utf8'));
      assert.ok(isNoop(await planPki(w.opts())));
    } finally {
      await w.cleanup();
    }
  });

  it('IPv6 and upper-case names compare in canonical form, so a re-run is a no-op', async () => {
    const w = await makeWorkdir();
    try {
      const nodes = [{ name: 'v6', hostname: 'V6.Bus.Example', publicIp: '2001:DB8:0:0::7', wgIp: 'fd00::0:7' }];
      const plan = await planPki(w.opts({ nodes }));
      assert.deepEqual(plan.actions.find((a) => a.kind === 'server-cert')!.sans, ['ip:2001:db8::7', 'ip:fd00::7', 'dns:v6.bus.example', 'dns:v6']);
      await applyPki(plan);
      const cert = new X509Certificate(await readFile(nodeFiles(w.opts().outDir, 'v6').serverCert));
      assert.match(cert.subjectAltName!, /IP Address:2001:DB8:0:0:0:0:0:7, IP Address:FD00:0:0:0:0:0:0:7, DNS:v6\.bus\.example, DNS:v6/);
      assert.ok(isNoop(await planPki(w.opts({ nodes }))));
    } finally {
      await w.cleanup();
    }
  });
});
