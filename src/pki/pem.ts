// PEM armour for certificates and PKCS#8 keys (RFC 7468).

export type PemLabel = 'CERTIFICATE' | 'PRIVATE KEY';

export function toPem(label: PemLabel, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Every block with `label` in `text`, in order. Throws when there is none. */
export function fromPemAll(label: PemLabel, text: string): Uint8Array[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`, 'g');
  const out = [...text.matchAll(re)].map((m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  if (!out.length) throw new Error(`no ${label} block found`);
  return out;
}

export function fromPem(label: PemLabel, text: string): Uint8Array {
  return fromPemAll(label, text)[0]!;
}
