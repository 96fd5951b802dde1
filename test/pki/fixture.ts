// Shared set-up for the PKI tests: a private temp folder and sample nodes.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PkiNode, PkiOptions } from '../../src/pki/index.js';

export const NODES: PkiNode[] = [
  { name: 'n1', hostname: 'n1.bus.example', publicIp: '203.0.113.11', wgIp: '10.0.0.1' },
  { name: 'n2', hostname: 'n2.bus.example', publicIp: '203.0.113.12', wgIp: '10.0.0.2' },
  { name: 'n3', hostname: 'n3.bus.example', publicIp: '203.0.113.13' },
];

export async function makeWorkdir(): Promise<{ dir: string; opts: (extra?: Partial<PkiOptions>) => PkiOptions; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-pki-'));
  return {
    dir,
    opts: (extra = {}) => ({ outDir: join(dir, 'out'), secretsDir: join(dir, 'secrets'), nodes: NODES, ...extra }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Every file under `dir` with its bytes and mode, keyed by relative path. */
export async function snapshot(dir: string): Promise<Map<string, { data: Buffer; mode: number; mtimeMs: number }>> {
  const out = new Map<string, { data: Buffer; mode: number; mtimeMs: number }>();
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = await stat(p);
      if (e.isDirectory()) {
        out.set(r + '/', { data: Buffer.alloc(0), mode: st.mode & 0o777, mtimeMs: st.mtimeMs });
        await walk(p, r);
      } else out.set(r, { data: await readFile(p), mode: st.mode & 0o777, mtimeMs: st.mtimeMs });
    }
  };
  await walk(dir, '');
  return out;
}
