// Reads the chaos run's acknowledged rooms back through every node's /v1 API,
// signed as the workload user: a room is present on a node when that node
// answers 200 with the room. A node that cannot answer (5xx, no reply) is
// asked again, bounded; a room it still cannot show counts as missing there,
// since an unproven write is not a kept one.
import { readFile, stat } from 'node:fs/promises';
import { UnibusClient } from '../../client/index.js';
import { mapLimit } from '../../util/process.js';
import { sleep } from '../../util/time.js';

export interface HttpNode { name: string; url: string }

/** The signing seed of a key file (64 hex digits, mode 0600), as `unibus api --key-file` reads it. */
export async function readSeedFile(file: string): Promise<Uint8Array> {
  const st = await stat(file);
  if ((st.mode & 0o077) !== 0) throw new Error(`${file}: mode ${(st.mode & 0o777).toString(8)} is too open for a signing seed (expected 600)`);
  const text = (await readFile(file, 'utf8')).trim();
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${file}: expected a 32-byte Ed25519 seed as 64 lowercase hex digits`);
  return Buffer.from(text, 'hex');
}


/** node name -> rooms not found there. */
export async function readBack(nodes: HttpNode[], handle: string, seed: Uint8Array, rooms: string[], o: { tries?: number; concurrency?: number; timeoutMs?: number } = {}): Promise<Record<string, string[]>> {
  const tries = o.tries ?? 5;
  const out: Record<string, string[]> = {};
  for (const n of nodes) {
    const c = new UnibusClient({ baseUrl: n.url, handle, seed, timeoutMs: o.timeoutMs ?? 5000 });
    const present = await mapLimit(rooms, o.concurrency ?? 6, async (room) => {
      for (let i = 1; ; i++) {
        let status = 0;
        try {
          const r = await c.raw('GET', `/v1/rooms/${encodeURIComponent(room)}`);
          status = r.status;
          if (status === 200) return r.json<{ name?: string }>().name === room;
        } catch {
          // no reply: ask again
        }
        // 403/404: the node says the room is not there. Anything else is asked again.
        if ((status >= 400 && status < 500) || i >= tries) return false;
        await sleep(300 * i);
      }
    });
    out[n.name] = rooms.filter((_, i) => !present[i]);
  }
  return out;
}
