// applyPki: carry out a plan from planPki, in its order (CAs first, then each
// node, then secrets). Key material is read and made here, written 0600 in
// 0700 folders, never returned.
import { rename, rm } from 'node:fs/promises';
import { PkiError } from './errors.js';
import { ensurePrivateDir, readIfExists, writePrivateFile, writeFilesAtomic } from './files.js';
import { VALIDITY } from './layout.js';
import { SERVER_EKU, ROUTE_EKU } from './plan.js';
import { fromPem, toPem } from './pem.js';
import { mintAdmin, mintClusterPass, mintNkey } from './secrets.js';
import type { PkiAction, PkiPlan, PkiResult } from './types.js';
import { exportPrivateKey, fingerprint, generateKeyPair, importPrivateKey, mintCertificate, parseCertificate, type Issuer, type San } from './x509.js';

const DAY = 86_400_000;

interface CaState {
  der?: Uint8Array;
  issuer?: Issuer;
  keyFile?: string;
}

/** Write a key and its certificate: both prepared first, then renamed in back to back. */
async function writePair(certFile: string, certDer: Uint8Array, keyFile: string, keyDer: Uint8Array): Promise<void> {
  await writeFilesAtomic([
    { file: keyFile, data: toPem('PRIVATE KEY', keyDer) },
    { file: certFile, data: toPem('CERTIFICATE', certDer) },
  ]);
}

async function loadCa(certFile: string, keyFile: string): Promise<CaState> {
  const certPem = await readIfExists(certFile);
  if (!certPem) throw new PkiError(`${certFile}: disappeared between plan and apply`);
  const der = fromPem('CERTIFICATE', certPem.toString('utf8'));
  const keyPem = await readIfExists(keyFile);
  if (!keyPem) return { der, keyFile };
  const privateKey = await importPrivateKey(fromPem('PRIVATE KEY', keyPem.toString('utf8')));
  return { der, issuer: { cert: parseCertificate(der), privateKey }, keyFile };
}

async function mintCa(cn: string, certFile: string, keyFile: string, now: Date): Promise<CaState> {
  const keys = await generateKeyPair();
  const der = await mintCertificate(
    { commonName: cn, notBefore: new Date(now.getTime() - VALIDITY.backdateMs), notAfter: new Date(now.getTime() + VALIDITY.caDays * DAY), isCa: true },
    keys,
  );
  await writePair(certFile, der, keyFile, await exportPrivateKey(keys.privateKey));
  return { der, issuer: { cert: parseCertificate(der), privateKey: keys.privateKey }, keyFile };
}

function parseSans(sans: string[]): San[] {
  return sans.map((s) => {
    const i = s.indexOf(':');
    return { type: s.slice(0, i) as San['type'], value: s.slice(i + 1) };
  });
}

async function mintLeaf(a: PkiAction, ca: CaState, eku: string[], now: Date): Promise<string> {
  if (!ca.issuer) throw new PkiError(`${a.files[0]}: no CA key to sign with (${ca.keyFile})`);
  const keys = await generateKeyPair();
  // A leaf never outlives the CA that signed it.
  const notAfter = new Date(Math.min(now.getTime() + VALIDITY.leafDays * DAY, ca.issuer.cert.notAfter.value.getTime()));
  const der = await mintCertificate(
    { commonName: a.node!, notBefore: new Date(now.getTime() - VALIDITY.backdateMs), notAfter, isCa: false, eku, sans: parseSans(a.sans ?? []) },
    keys,
    ca.issuer,
  );
  await writePair(a.files[0]!, der, a.files[1]!, await exportPrivateKey(keys.privateKey));
  return fingerprint(der);
}

export async function applyPki(plan: PkiPlan): Promise<PkiResult> {
  const now = new Date(plan.now);
  await ensurePrivateDir(plan.secretsDir);
  await ensurePrivateDir(plan.outDir);
  const changed: string[] = [];
  const done: PkiAction[] = [];
  let client: CaState = {};
  let route: CaState = {};
  let oldRouteDer: Uint8Array | undefined;
  let adminPublicKey: string | undefined;

  for (const a of plan.actions) {
    const out: PkiAction = { ...a };
    const [f0, f1] = a.files as [string, string];
    if (a.op !== 'reuse') changed.push(...a.files);
    switch (a.kind) {
      case 'client-ca':
        client = a.op === 'mint' ? await mintCa('unibus client CA', f0, f1, now) : await loadCa(f0, f1);
        if (a.op === 'mint') out.fingerprint = fingerprint(client.der!);
        break;
      case 'route-ca':
        route = a.op === 'mint' ? await mintCa('unibus cluster route CA', f0, f1, now) : await loadCa(f0, f1);
        if (a.op === 'mint') out.fingerprint = fingerprint(route.der!);
        break;
      case 'old-route-ca':
        if (a.op === 'retire') {
          oldRouteDer = fromPem('CERTIFICATE', (await readIfExists(f0))!.toString('utf8'));
          await rename(f0, a.files[2]!);
          if (await readIfExists(f1)) await rename(f1, a.files[3]!);
        } else if (a.op === 'remove') {
          await rm(f0, { force: true });
          await rm(f1, { force: true });
        } else if (await readIfExists(f0)) {
          oldRouteDer = (await loadCa(f0, f1)).der;
        }
        break;
      case 'client-ca-copy':
        if (a.op === 'write') await writePrivateFile(f0, toPem('CERTIFICATE', client.der!), 0o600);
        break;
      case 'route-ca-bundle':
        if (a.op === 'write') {
          const pem = toPem('CERTIFICATE', route.der!) + (oldRouteDer ? toPem('CERTIFICATE', oldRouteDer) : '');
          await writePrivateFile(f0, pem, 0o600);
        }
        break;
      case 'server-cert':
        if (a.op === 'mint') out.fingerprint = await mintLeaf(a, client, SERVER_EKU, now);
        break;
      case 'route-cert':
        if (a.op === 'mint') out.fingerprint = await mintLeaf(a, route, ROUTE_EKU, now);
        break;
      case 'internal-nkey':
      case 'system-nkey':
        if (a.op !== 'reuse') out.fingerprint = await mintNkey(f0, f1, a.op === 'write');
        break;
      case 'cluster-pass':
        if (a.op === 'mint') await mintClusterPass(f0);
        break;
      case 'admin-key':
        adminPublicKey = a.op === 'reuse' ? a.fingerprint : await mintAdmin(f0, f1, a.op === 'write');
        out.fingerprint = adminPublicKey;
        break;
    }
    done.push(out);
  }
  return { actions: done, changed, adminPublicKey };
}
