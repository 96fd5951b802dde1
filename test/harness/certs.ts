// Test certificates made with the real openssl CLI: a CA and leaves with IP
// SANs. Route leaves carry EKU serverAuth+clientAuth (routes dial and accept).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CaFiles { dir: string; cert: string; key: string }
export interface LeafFiles { cert: string; key: string }

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

export function makeCa(dir: string, name: string): CaFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  chmodSync(key, 0o600);
  return { dir, cert, key };
}

export function makeLeaf(ca: CaFiles, name: string, ips: string[], eku = 'serverAuth,clientAuth'): LeafFiles {
  const base = join(ca.dir, name);
  const ext = `${base}.ext`;
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${eku}`,
      `subjectAltName=${[...ips.map((i) => `IP:${i}`), `DNS:${name}`].join(',')}`,
    ].join('\n') + '\n',
  );
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', `${base}.crt`, '-days', '2', '-extfile', ext]);
  chmodSync(`${base}.key`, 0o600);
  return { cert: `${base}.crt`, key: `${base}.key` };
}
