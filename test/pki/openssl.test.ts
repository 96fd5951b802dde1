// Minted certificates as tools nobody here wrote see them: openssl and
// Node's own X509Certificate parser (both OpenSSL, neither pkijs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { applyPki, nodeFiles, planPki, secretFiles } from '../../src/pki/index.js';
import { NODES, makeWorkdir } from './fixture.js';

const DAY = 86_400_000;

function openssl(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 10_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('minted certificates under openssl', () => {
  let w: Awaited<ReturnType<typeof makeWorkdir>>;
  let s: ReturnType<typeof secretFiles>;
  const now = new Date();
  before(async () => {
    w = await makeWorkdir();
    s = secretFiles(w.opts().secretsDir);
    await applyPki(await planPki(w.opts({ now })));
  });
  after(() => w.cleanup());

  it('every leaf verifies against its own CA and not against the other', () => {
    for (const n of NODES) {
      const f = nodeFiles(w.opts().outDir, n.name);
      for (const [leaf, own, other] of [[f.serverCert, s.clientCaCert, s.routeCaCert], [f.routeCert, s.routeCaCert, s.clientCaCert]]) {
        const ok = openssl('verify', '-x509_strict', '-CAfile', own!, leaf!);
        assert.equal(ok.code, 0, ok.out);
        assert.match(ok.out, /: OK/);
        const bad = openssl('verify', '-x509_strict', '-CAfile', other!, leaf!);
        assert.notEqual(bad.code, 0, `${leaf} verified against ${other}`);
      }
      // The shipped copies are what the node trusts: they must do the same.
      assert.equal(openssl('verify', '-CAfile', f.clientCa, f.serverCert).code, 0);
      assert.equal(openssl('verify', '-CAfile', f.routeCaBundle, f.routeCert).code, 0);
      assert.notEqual(openssl('verify', '-CAfile', f.routeCaBundle, f.serverCert).code, 0);
    }
  });

  it('openssl -text shows SANs, EKUs, critical basicConstraints and keyUsage', () => {
    const f = nodeFiles(w.opts().outDir, 'n1');
    const server = openssl('x509', '-in', f.serverCert, '-text', '-noout').out;
    assert.match(server, /Subject Alternative Name: *\n *IP Address:203\.0\.113\.11, IP Address:10\.0\.0\.1, DNS:n1\.bus\.example, DNS:n1\n/);
    assert.match(server, /Extended Key Usage: *\n *TLS Web Server Authentication\n/);
    assert.match(server, /Basic Constraints: critical\n *CA:FALSE/);
    assert.match(server, /Key Usage: critical\n *Digital Signature, Key Agreement/);
    assert.match(server, /Subject Key Identifier/);
    assert.match(server, /Authority Key Identifier/);
    assert.match(server, /ASN1 OID: prime256v1/);
    assert.match(server, /Signature Algorithm: ecdsa-with-SHA256/);
    const route = openssl('x509', '-in', f.routeCert, '-text', '-noout').out;
    assert.match(route, /Extended Key Usage: *\n *TLS Web Server Authentication, TLS Web Client Authentication\n/);
    const n3 = openssl('x509', '-in', nodeFiles(w.opts().outDir, 'n3').routeCert, '-text', '-noout').out;
    assert.match(n3, /IP Address:203\.0\.113\.13, DNS:n3\.bus\.example, DNS:n3\n/);
    for (const ca of [s.clientCaCert, s.routeCaCert]) {
      const t = openssl('x509', '-in', ca, '-text', '-noout').out;
      assert.match(t, /Basic Constraints: critical\n *CA:TRUE, pathlen:0/);
      assert.match(t, /Key Usage: critical\n *Certificate Sign, CRL Sign\n/);
      assert.doesNotMatch(t, /Extended Key Usage/);
    }
  });

  it('validity: CA 10 years, leaf 397 days, random positive 16-byte serials', async () => {
    const ca = new X509Certificate(await readFile(s.clientCaCert));
    assert.ok(ca.ca);
    const caDays = (Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / DAY;
    assert.ok(Math.abs(caDays - 3650) < 1, `CA lasts ${caDays} days`);
    const serials = new Set<string>();
    for (const n of NODES) {
      for (const file of [nodeFiles(w.opts().outDir, n.name).serverCert, nodeFiles(w.opts().outDir, n.name).routeCert]) {
        const c = new X509Certificate(await readFile(file));
        assert.equal(c.ca, false);
        assert.ok(Math.abs((Date.parse(c.validTo) - now.getTime()) / DAY - 397) < 1);
        assert.ok(Date.parse(c.validFrom) <= now.getTime());
        assert.equal(c.serialNumber.length, 32, c.serialNumber);
        assert.ok(parseInt(c.serialNumber[0]!, 16) < 8, 'serial is positive');
        serials.add(c.serialNumber);
        const fp = openssl('x509', '-in', file, '-noout', '-fingerprint', '-sha256').out;
        assert.match(fp, new RegExp(c.fingerprint256));
      }
    }
    assert.equal(serials.size, NODES.length * 2);
  });

  it('plan fingerprints are openssl\'s sha256 fingerprints', async () => {
    const plan = await planPki(w.opts());
    for (const a of plan.actions.filter((x) => x.kind === 'server-cert' || x.kind === 'route-cert')) {
      const fp = openssl('x509', '-in', a.files[0]!, '-noout', '-fingerprint', '-sha256').out;
      const hex = fp.split('=')[1]!.trim().replace(/:/g, '').toLowerCase();
      assert.equal(a.fingerprint, `sha256:${hex}`);
    }
  });
});
