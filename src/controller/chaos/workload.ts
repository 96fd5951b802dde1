// The chaos workload: steady signed writes (rooms created) through the /v1
// API of every node, one worker per node so that a frozen node stalls only
// its own worker. A failed write is tried again on the worker's node, with
// the same room, up to `retries` times. Every attempt is journaled when its
// reply (or its failure) is in: node, room, send and reply time, status.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnibusClient } from '../../client/index.js';
import { WRITES_FILE, type Attempt } from './journal.js';
import type { HttpNode } from './readback.js';
import { sleep } from '../../util/time.js';

export interface WorkloadConfig {
  run: string;
  runDir: string;
  nodes: HttpNode[];
  handle: string;
  keyFile: string;
  /** Pause between one worker's writes. */
  intervalMs: number;
  /** Bound of one HTTP attempt. */
  timeoutMs: number;
  retries: number;
  /** The workload stops by itself after this long, whatever happens to the run that started it. */
  maxSeconds: number;
  /** The `unibus play` process: the workload stops when it is gone. */
  parentPid?: number;
}

export function roomOf(run: string, seq: number): string {
  return `chaos-${run}-${seq}`;
}


/** Runs until `signal` aborts; resolves once every worker's attempt in flight is journaled. */
export async function runWorkload(cfg: WorkloadConfig, seed: Uint8Array, signal: AbortSignal, journal = join(cfg.runDir, WRITES_FILE)): Promise<{ attempts: number }> {
  let seq = 0;
  let attempts = 0;
  const write = (a: Attempt) => {
    attempts++;
    appendFileSync(journal, JSON.stringify(a) + '\n', { mode: 0o600 });
  };
  const worker = async (node: HttpNode) => {
    const c = new UnibusClient({ baseUrl: node.url, handle: cfg.handle, seed, timeoutMs: cfg.timeoutMs });
    while (!signal.aborted) {
      const s = ++seq;
      const room = roomOf(cfg.run, s);
      for (let attempt = 1; attempt <= 1 + cfg.retries && !signal.aborted; attempt++) {
        const sent = Date.now();
        let status = 0;
        let error: string | undefined;
        try {
          status = (await c.raw('POST', '/v1/rooms', { name: room })).status;
        } catch (e) {
          const err = e as Error & { cause?: { code?: string } };
          error = err.cause?.code ?? err.name ?? err.message;
        }
        write({ seq: s, attempt, node: node.name, room, sent_at: sent, replied_at: Date.now(), status, ...(error ? { error } : {}) });
        // 2xx: acknowledged. 409 on a retry: an earlier attempt committed it unacknowledged. Other 4xx: no use repeating.
        if (status >= 200 && status < 500 && status !== 429) break;
        await sleep(250 * attempt, signal);
      }
      await sleep(cfg.intervalMs, signal);
    }
  };
  await Promise.all(cfg.nodes.map(worker));
  return { attempts };
}
