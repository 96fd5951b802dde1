// Raising the replicas of the control-plane streams in place, one stream at a
// time: update, then wait (bounded) until the stream has a leader and every
// replica is current before touching the next one. A second update while a
// new leader is being elected can time out, hence the strict sequence.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { UnibusError } from '../errors.js';
import { CLUSTER_STREAMS } from './probe.js';

export class ScaleError extends UnibusError {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface StreamReplicas { name: string; replicas: number }

export async function readReplicas(jsm: JetStreamManager, names = CLUSTER_STREAMS): Promise<StreamReplicas[]> {
  const out: StreamReplicas[] = [];
  for (const name of names) out.push({ name, replicas: (await jsm.streams.info(name)).config.num_replicas });
  return out;
}

/** Waits until `name` has a leader and `replicas - 1` current followers. */
export async function waitStreamCurrent(jsm: JetStreamManager, name: string, replicas: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const si = await jsm.streams.info(name);
      const peers = si.cluster?.replicas ?? [];
      const current = peers.filter((p) => p.current && !p.offline).length;
      if (si.cluster?.leader && si.config.num_replicas === replicas && current === replicas - 1) return;
      last = `leader ${si.cluster?.leader ?? 'none'}, ${current}/${replicas - 1} followers current`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(300);
  }
  throw new ScaleError(`${name}: not R${replicas} with every replica current after ${timeoutMs} ms (${last})`);
}

/** Scales each stream below `replicas` up, in order; returns the names changed. */
export async function scaleStreams(nc: NatsConnection, replicas: number, stepTimeoutMs: number, log: (s: string) => void): Promise<string[]> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const changed: string[] = [];
  for (const { name, replicas: have } of await readReplicas(jsm)) {
    if (have >= replicas) continue;
    const si = await jsm.streams.info(name);
    log(`${name}: R${have} -> R${replicas}`);
    let updated = false;
    const deadline = Date.now() + stepTimeoutMs;
    let lastErr: unknown;
    while (!updated && Date.now() < deadline) {
      try {
        await jsm.streams.update(name, { ...si.config, num_replicas: replicas });
        updated = true;
      } catch (e) {
        lastErr = e;
        await sleep(500);
      }
    }
    if (!updated) throw new ScaleError(`${name}: update to R${replicas} refused`, { cause: lastErr });
    await waitStreamCurrent(jsm, name, replicas, stepTimeoutMs);
    log(`${name}: R${replicas}, leader elected, every replica current`);
    changed.push(name);
  }
  return changed;
}
