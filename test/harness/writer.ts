// A steady stream of signed writes spread over the nodes, for restarts: each
// write stores a new blob (content-addressed, so a retry of a write that had
// landed is harmless) in one room. A write that fails is retried on the next
// node and counted. Blobs change no allowlist, so the writes themselves do
// not make every node reload its server.
import { createHash, randomBytes } from 'node:crypto';
import { UnibusClient } from '../../src/client/index.js';

export interface WriterStats { acked: string[]; retries: number; failed: number }

export async function startWriter(baseUrls: string[], handle: string, seed: Uint8Array, o: { intervalMs?: number; attempts?: number } = {}) {
  const clients = baseUrls.map((baseUrl) => new UnibusClient({ baseUrl, handle, seed, timeoutMs: 5000 }));
  const room = `w${randomBytes(4).toString('hex')}`;
  await clients[0]!.createRoom(room);
  const stats: WriterStats = { acked: [], retries: 0, failed: 0 };
  let stop = false;
  let i = 0;
  const done = (async () => {
    while (!stop) {
      const data = randomBytes(64);
      let sha: string | null = null;
      for (let a = 0; a < (o.attempts ?? 40) && !sha; a++) {
        try {
          sha = (await clients[(i + a) % clients.length]!.putBlob(room, data)).sha256;
        } catch {
          stats.retries++;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      if (sha) stats.acked.push(sha);
      else stats.failed++;
      i++;
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 50));
    }
  })();
  return {
    room,
    stats,
    async stop(): Promise<WriterStats> {
      stop = true;
      await done;
      return stats;
    },
  };
}

/** The acknowledged blobs that `reader` does not give back with their content (none should be). */
export async function lostBlobs(reader: UnibusClient, room: string, acked: string[]): Promise<string[]> {
  const lost: string[] = [];
  for (const sha of acked) {
    const got = await reader.getBlob(room, sha).catch(() => null);
    if (!got || createHash('sha256').update(got).digest('hex') !== sha) lost.push(sha);
  }
  return lost;
}
