// Certificate minting and reading with pkijs on Node's WebCrypto.
// Everything here is pure crypto over bytes; files and plans live elsewhere.
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { sha256Hex } from '../util/hash.js';

pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as unknown as Crypto }));

const subtle = webcrypto.subtle;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export const OID = {
  cn: '2.5.4.3',
  org: '2.5.4.10',
  ski: '2.5.29.14',
  keyUsage: '2.5.29.15',
  san: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  aki: '2.5.29.35',
  eku: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** A subject alternative name: IPs go in iPAddress, names in dNSName. */
export type San = { type: 'ip' | 'dns'; value: string };

export interface KeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

/** An issuer: its parsed certificate and, when signing, its private key. */
export interface Issuer {
  cert: pkijs.Certificate;
  privateKey: CryptoKey;
}

export interface MintSpec {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  /** EKU purposes for a leaf (OIDs); CAs carry none. */
  eku?: string[];
  sans?: San[];
}

export async function generateKeyPair(): Promise<KeyPair> {
  return (await subtle.generateKey(EC, true, ['sign', 'verify'])) as KeyPair;
}

export async function importPrivateKey(pkcs8: Uint8Array): Promise<CryptoKey> {
  return subtle.importKey('pkcs8', pkcs8, EC, true, ['sign']);
}

export async function exportPrivateKey(key: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await subtle.exportKey('pkcs8', key));
}

/** 16 random bytes, top bit clear so the INTEGER is positive, first byte non-zero so it stays 16 bytes. */
function randomSerial(): Uint8Array {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f || 0x01;
  return new Uint8Array(b);
}

function toTime(d: Date): pkijs.Time {
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  return new pkijs.Time({ type: d.getUTCFullYear() < 2050 ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime, value: d });
}

function ext(extnID: string, critical: boolean, value: { toSchema(): asn1js.AsnType } | asn1js.AsnType): pkijs.Extension {
  const schema = 'toSchema' in value ? value.toSchema() : value;
  return new pkijs.Extension({ extnID, critical, extnValue: schema.toBER(false) });
}

/** KeyUsage bits as a DER BIT STRING (bit 0 is the MSB of the first byte; trailing zero bits are unused). */
function keyUsageBits(bits: number[]): asn1js.BitString {
  let v = 0;
  for (const b of bits) v |= 0x80 >> b;
  const unused = Math.min(...bits.map((b) => 7 - b));
  return new asn1js.BitString({ valueHex: new Uint8Array([v]).buffer, unusedBits: unused });
}

function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return new Uint8Array(ip.split('.').map(Number));
  // IPv6: let the URL parser canonicalise, then expand the groups.
  const host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head, tail = ''] = host.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = host.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

function ipFromBytes(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function nameOf(cn: string): pkijs.RelativeDistinguishedNames {
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [new pkijs.AttributeTypeAndValue({ type: OID.cn, value: new asn1js.Utf8String({ value: cn }) })],
  });
}

async function keyId(spki: pkijs.PublicKeyInfo): Promise<ArrayBuffer> {
  // RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits.
  return subtle.digest('SHA-1', spki.subjectPublicKey.valueBlock.valueHexView);
}

/**
 * Mint a certificate for `keys.publicKey`. Self-signed when `issuer` is absent
 * (a CA), else signed by the issuer's key.
 */
export async function mintCertificate(spec: MintSpec, keys: KeyPair, issuer?: Issuer): Promise<Uint8Array> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ valueHex: randomSerial().buffer as ArrayBuffer });
  cert.subject = nameOf(spec.commonName);
  cert.issuer = issuer ? issuer.cert.subject : nameOf(spec.commonName);
  cert.notBefore = toTime(spec.notBefore);
  cert.notAfter = toTime(spec.notAfter);
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey);

  const ski = await keyId(cert.subjectPublicKeyInfo);
  const aki = issuer ? await keyId(issuer.cert.subjectPublicKeyInfo) : ski;
  const exts: pkijs.Extension[] = [
    ext(OID.basicConstraints, true, new pkijs.BasicConstraints(spec.isCa ? { cA: true, pathLenConstraint: 0 } : { cA: false })),
    // CA: keyCertSign(5) + cRLSign(6). Leaf: digitalSignature(0) + keyAgreement(4) for ECDHE suites.
    ext(OID.keyUsage, true, keyUsageBits(spec.isCa ? [5, 6] : [0, 4])),
    ext(OID.ski, false, new asn1js.OctetString({ valueHex: ski })),
    ext(OID.aki, false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: aki }) })),
  ];
  if (spec.eku?.length) exts.push(ext(OID.eku, false, new pkijs.ExtKeyUsage({ keyPurposes: spec.eku })));
  if (spec.sans?.length) {
    const names = spec.sans.map((s) =>
      s.type === 'ip'
        ? new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipBytes(s.value).buffer as ArrayBuffer }) })
        : new pkijs.GeneralName({ type: 2, value: s.value }),
    );
    exts.push(ext(OID.san, false, new pkijs.GeneralNames({ names })));
  }
  cert.extensions = exts;
  await cert.sign(issuer ? issuer.privateKey : keys.privateKey, 'SHA-256');
  return new Uint8Array(cert.toSchema(true).toBER(false));
}

/** An IP address in the text form readSans() gives back (IPv6 compressed, lowercase). */
export function canonicalIp(ip: string): string {
  return ipFromBytes(ipBytes(ip));
}

export function parseCertificate(der: Uint8Array): pkijs.Certificate {
  return pkijs.Certificate.fromBER(der as Uint8Array<ArrayBuffer>);
}

/** The SANs a certificate carries, IPs in canonical text form. */
export function readSans(cert: pkijs.Certificate): San[] {
  const e = cert.extensions?.find((x) => x.extnID === OID.san);
  if (!e) return [];
  const gn = pkijs.GeneralNames.fromBER(e.extnValue.valueBlock.valueHexView as Uint8Array<ArrayBuffer>);
  return gn.names.flatMap((n): San[] => {
    if (n.type === 2) return [{ type: 'dns', value: String(n.value) }];
    if (n.type === 7) return [{ type: 'ip', value: ipFromBytes((n.value as asn1js.OctetString).valueBlock.valueHexView) }];
    return [];
  });
}

/** True when `cert` carries a valid signature made by `issuer`'s key. */
export async function verifySignedBy(cert: pkijs.Certificate, issuer: pkijs.Certificate): Promise<boolean> {
  try {
    return await cert.verify(issuer);
  } catch {
    return false;
  }
}

/** True when the PKCS#8 private key is the one whose public half the certificate holds. */
export function keyMatchesCert(pkcs8: Uint8Array, cert: pkijs.Certificate): boolean {
  const pub = createPublicKey(createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }));
  const spki = pub.export({ type: 'spki', format: 'der' });
  return Buffer.from(cert.subjectPublicKeyInfo.toSchema().toBER(false)).equals(spki);
}

/** sha256 of the DER, as `sha256:<hex>` (openssl's -fingerprint, lowercase, no colons). */
export function fingerprint(der: Uint8Array): string {
  return `sha256:${sha256Hex(der)}`;
}

export function serialHex(cert: pkijs.Certificate): string {
  return Buffer.from(cert.serialNumber.valueBlock.valueHexView).toString('hex');
}
