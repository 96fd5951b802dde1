// The one content hash: sha256 as lowercase hex (file checksums as Ansible's
// `checksum` reports them, blob ids, the canonical request's body digest,
// the build record).
import { createHash } from 'node:crypto';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
