// Reading what is already on disk: CA pairs and leaves, judged against what
// is wanted. Refuses (throws) on corrupt or mismatched pairs; everything else
// becomes a reason in the plan.
import type * as pkijs from 'pkijs';
import { BadKeyPairError } from './errors.js';
import { readIfExists } from './files.js';
import { fromPem } from './pem.js';
import { OID, fingerprint, keyMatchesCert, parseCertificate, readSans, verifySignedBy, type San } from './x509.js';

export interface LoadedCert {
  der: Uint8Array;
  cert: pkijs.Certificate;
  notAfter: Date;
}

export interface CaOnDisk {
  certFile: string;
  keyFile: string;
  /** Absent when neither file exists. */
  loaded?: LoadedCert;
  hasKey: boolean;
}

function parseCertFile(certFile: string, keyFile: string, pem: Buffer): LoadedCert {
  try {
    const der = fromPem('CERTIFICATE', pem.toString('utf8'));
    const cert = parseCertificate(der);
    return { der, cert, notAfter: cert.notAfter.value };
  } catch (err) {
    throw new BadKeyPairError(certFile, keyFile, 'certificate does not parse', { cause: err });
  }
}

/** Refuse a key that does not parse or is not the certificate's. */
function checkPair(loaded: LoadedCert, certFile: string, keyFile: string, keyPem: Buffer): void {
  let match: boolean;
  try {
    match = keyMatchesCert(fromPem('PRIVATE KEY', keyPem.toString('utf8')), loaded.cert);
  } catch (err) {
    throw new BadKeyPairError(certFile, keyFile, 'private key does not parse (expected a PKCS#8 PEM)', { cause: err });
  }
  if (!match) throw new BadKeyPairError(certFile, keyFile, 'private key does not belong to this certificate');
}

export async function readCa(certFile: string, keyFile: string): Promise<CaOnDisk> {
  const [certPem, keyPem] = await Promise.all([readIfExists(certFile), readIfExists(keyFile)]);
  if (!certPem && !keyPem) return { certFile, keyFile, hasKey: false };
  if (!certPem) throw new BadKeyPairError(certFile, keyFile, 'CA key present but its certificate is missing');
  const loaded = parseCertFile(certFile, keyFile, certPem);
  const bc = loaded.cert.extensions?.find((e) => e.extnID === OID.basicConstraints);
  if (!bc || !(bc.parsedValue as pkijs.BasicConstraints | undefined)?.cA) {
    throw new BadKeyPairError(certFile, keyFile, 'certificate is not a CA (basicConstraints CA:true missing)');
  }
  if (keyPem) checkPair(loaded, certFile, keyFile, keyPem);
  return { certFile, keyFile, loaded, hasKey: !!keyPem };
}

export function sanStrings(sans: San[]): string[] {
  return sans.map((s) => `${s.type}:${s.value}`);
}

function ekuOf(cert: pkijs.Certificate): string[] {
  const e = cert.extensions?.find((x) => x.extnID === OID.eku);
  return ((e?.parsedValue as pkijs.ExtKeyUsage | undefined)?.keyPurposes ?? []).slice().sort();
}

export interface LeafVerdict {
  mint: boolean;
  reason: string;
  fingerprint?: string;
  notAfter?: string;
}

export interface LeafWant {
  certFile: string;
  keyFile: string;
  sans: San[];
  eku: string[];
  /** The CA it must verify against; undefined when that CA is minted in this run. */
  ca?: LoadedCert;
  caLabel: string;
  now: Date;
  renewWithinDays: number;
}

const DAY = 86_400_000;

/** Decide whether a leaf can stay, and say why in words an operator reads. */
export async function judgeLeaf(w: LeafWant): Promise<LeafVerdict> {
  const [certPem, keyPem] = await Promise.all([readIfExists(w.certFile), readIfExists(w.keyFile)]);
  if (!w.ca) return { mint: true, reason: `the ${w.caLabel} is new` };
  if (!certPem) return { mint: true, reason: keyPem ? 'certificate missing' : 'missing' };
  const leaf = parseCertFile(w.certFile, w.keyFile, certPem);
  const fp = fingerprint(leaf.der);
  if (!keyPem) return { mint: true, reason: 'private key missing', fingerprint: fp };
  checkPair(leaf, w.certFile, w.keyFile, keyPem);
  if (!(await verifySignedBy(leaf.cert, w.ca.cert))) {
    return { mint: true, reason: `not signed by the current ${w.caLabel}`, fingerprint: fp };
  }
  const have = new Set(sanStrings(readSans(leaf.cert)));
  const want = new Set(sanStrings(w.sans));
  const added = [...want].filter((s) => !have.has(s));
  const removed = [...have].filter((s) => !want.has(s));
  if (added.length || removed.length) {
    const diff = [...added.map((s) => `+${s}`), ...removed.map((s) => `-${s}`)].join(' ');
    return { mint: true, reason: `SANs changed (${diff})`, fingerprint: fp };
  }
  if (ekuOf(leaf.cert).join() !== w.eku.slice().sort().join()) {
    return { mint: true, reason: 'extended key usage differs from policy', fingerprint: fp };
  }
  const until = leaf.notAfter.toISOString().slice(0, 10);
  const left = (leaf.notAfter.getTime() - w.now.getTime()) / DAY;
  if (left <= 0) return { mint: true, reason: `expired on ${until}`, fingerprint: fp };
  if (left <= w.renewWithinDays) return { mint: true, reason: `expires in ${Math.floor(left)} days`, fingerprint: fp };
  if (leaf.cert.notBefore.value.getTime() > w.now.getTime()) {
    return { mint: true, reason: 'not valid yet (notBefore in the future)', fingerprint: fp };
  }
  return { mint: false, reason: `valid until ${until}, SANs match`, fingerprint: fp, notAfter: leaf.notAfter.toISOString() };
}
