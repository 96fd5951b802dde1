// The cases where minting must stop with a named error rather than guess.
import assert from 'node:assert/strict';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { BadKeyPairError, MissingCaKeyError, NodeDataError, PkiError, applyPki, isNoop, nodeFiles, planPki, secretFiles } from '../../src/pki/index.js';
import { NODES, makeWorkdir } from './fixture.js';

describe('pki refuses', () => {
  let w: Awaited<ReturnType<typeof makeWorkdir>>;
  let s: ReturnType<typeof secretFiles>;
  let n1: ReturnType<typeof nodeFiles>;
  before(async () => {
    w = await makeWorkdir();
    s = secretFiles(w.opts().secretsDir);
    n1 = nodeFiles(w.opts().outDir, 'n1');
    await applyPki(await planPki(w.opts()));
  });
  after(() => w.cleanup());

  // Each case damages a copy of the state, checks, then restores it.
  async function withDamage(file: string, damage: () => Promise<void>, check: () => Promise<void>) {
    const saved = await readFile(file);
    try {
      await damage();
      await check();
    } finally {
      await writeFile(file, saved, { mode: 0o600 });
    }
  }

  it('a missing client CA key only when a leaf must be signed with it', async () => {
    await withDamage(s.clientCaKey, () => rm(s.clientCaKey), async () => {
      // Every leaf is still good: the CA key may live offline.
      assert.ok(isNoop(await planPki(w.opts())));
      const nodes = NODES.map((n) => (n.name === 'n1' ? { ...n, wgIp: '10.0.0.9' } : n));
      await assert.rejects(planPki(w.opts({ nodes })), (err: Error) => {
        assert.ok(err instanceof MissingCaKeyError);
        assert.match(err.message, /client-ca\.key: CA key missing/);
        assert.match(err.message, /n1\/server\.pem/);
        return true;
      });
    });
  });

  it('a corrupt leaf key', async () => {
    await withDamage(n1.serverKey, () => writeFile(n1.serverKey, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), async () => {
      await assert.rejects(planPki(w.opts()), (err: Error) => err instanceof BadKeyPairError && /server\.key: private key does not parse/.test(err.message) && err.cause !== undefined);
    });
  });

  it('a leaf key that belongs to another certificate', async () => {
    await withDamage(n1.serverKey, () => copyFile(n1.routeKey, n1.serverKey), async () => {
      await assert.rejects(planPki(w.opts()), (err: Error) => err instanceof BadKeyPairError && /does not belong to this certificate/.test(err.message));
    });
  });

  it('a CA whose key and certificate do not match', async () => {
    await withDamage(s.clientCaKey, () => copyFile(s.routeCaKey, s.clientCaKey), async () => {
      await assert.rejects(planPki(w.opts()), (err: Error) => err instanceof BadKeyPairError && err.message.includes(s.clientCaCert));
    });
  });

  it('a corrupt CA certificate', async () => {
    await withDamage(s.routeCaCert, () => writeFile(s.routeCaCert, 'not a certificate\n'), async () => {
      await assert.rejects(planPki(w.opts()), (err: Error) => err instanceof BadKeyPairError && /certificate does not parse/.test(err.message));
    });
  });

  it('node data with placeholders or bad addresses, naming node and field', async () => {
    const cases: [Partial<(typeof NODES)[0]>, RegExp][] = [
      [{ publicIp: '<PUBLIC_IP>' }, /node n2: publicIp: '<PUBLIC_IP>' is a placeholder/],
      [{ wgIp: '{{ wg_ip }}' }, /node n2: wgIp: .* is a placeholder/],
      [{ publicIp: '10.0.0.300' }, /node n2: publicIp: '10\.0\.0\.300' is not valid \(expected an IPv4 or IPv6 address\)/],
      [{ hostname: '' }, /node n2: hostname: missing or empty/],
    ];
    for (const [patch, re] of cases) {
      const nodes = NODES.map((n) => (n.name === 'n2' ? { ...n, ...patch } : n));
      await assert.rejects(planPki(w.opts({ nodes })), (err: Error) => err instanceof NodeDataError && re.test(err.message));
    }
  });

  it('an expired CA rather than silently replacing it', async () => {
    const later = new Date(Date.now() + 3700 * 86_400_000);
    await assert.rejects(planPki(w.opts({ now: later })), (err: Error) => err instanceof PkiError && /client-ca\.pem: the client CA expired on \d{4}-\d\d-\d\d/.test(err.message));
  });

  it('never regenerates the cluster password', async () => {
    const pass = await readFile(s.clusterPass, 'utf8');
    await rm(n1.routeCert);
    await applyPki(await planPki(w.opts()));
    assert.equal(await readFile(s.clusterPass, 'utf8'), pass);
  });
});
