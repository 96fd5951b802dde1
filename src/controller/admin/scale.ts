// Raising the replicas of the control-plane streams in place, one stream at a
// time: update, then wait (bounded) until the stream has a leader and every
// replica is current before touching the next one. A second update while a
// new leader is being elected can time out, hence the strict sequence.
import { JetStreamApiError, jetstreamManager, type JetStreamManager, type StorageType, type StreamUpdateConfig } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { BUCKETS, HISTORY_MARK, HISTORY_NEEDED_MS, lostMark, NONCE_STREAM, nonceBucketOptions, nonceStorage, type NonceStore } from '../../daemon/index.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { UnibusError } from '../../errors.js';
import { CLUSTER_STREAMS } from '../probe/probe.js';
import { sleep } from '../../util/time.js';

export class ScaleError extends UnibusError {}


export interface StreamReplicas { name: string; replicas: number; storage: string }

export async function readReplicas(jsm: JetStreamManager, names = CLUSTER_STREAMS): Promise<StreamReplicas[]> {
  const out: StreamReplicas[] = [];
  for (const name of names) {
    const si = await jsm.streams.info(name).catch((e: unknown) => {
      // A nonce stream dropped by a move cut short: the move makes it again.
      if (name === NONCE_STREAM && e instanceof JetStreamApiError && e.code === 10059) return null;
      throw e;
    });
    out.push(si ? { name, replicas: si.config.num_replicas, storage: si.config.storage } : { name, replicas: 0, storage: 'none' });
  }
  return out;
}

/** What scaling to `replicas` has to do, one line per stream (empty: nothing). */
export function scaleSteps(have: StreamReplicas[], replicas: number, nonceStore: NonceStore = 'disk'): string[] {
  const want = nonceStorage(replicas, nonceStore);
  return have.flatMap((s) => {
    const move = nonceMove(s, replicas, want);
    if (move) return [`${s.name} ${move.change}`];
    return s.replicas < replicas ? [`${s.name} R${s.replicas}`] : [];
  });
}

/** The nonce stream's move to `want` storage, if `s` is that stream on the other one: to how many replicas, and the change as plan and log say it. */
function nonceMove(s: StreamReplicas, replicas: number, want: 'memory' | 'file'): { to: number; change: string } | null {
  if (s.name !== NONCE_STREAM || s.storage === want) return null;
  const to = Math.max(replicas, s.replicas);
  return { to, change: `R${s.replicas} ${s.storage} -> R${to} ${want}` };
}

/**
 * A stream's storage cannot be changed in place. To move the nonce bucket
 * between disk and memory (cluster.nonce_store), its stream is sealed (no
 * claim lands in it any more), dropped and made again with the same config on
 * the other storage. If it held any nonce, the new stream is marked lost, so
 * signed requests are refused until a replay of those could no longer be
 * accepted (see daemon/store/nonce-history.ts). Claims fail (503) while this
 * runs. Re-running after an interruption converges.
 */
export async function moveNonces(jsm: JetStreamManager, to: 'memory' | 'file', replicas: number, stepTimeoutMs: number, log: (s: string) => void): Promise<void> {
  const deadline = Date.now() + stepTimeoutMs;
  for (;;) {
    const si = await jsm.streams.info(NONCE_STREAM).catch(() => null);
    if (si && si.config.storage === to) return;
    if (!si) {
      // Dropped by a move cut short: made again as membershipd makes it, and
      // marked lost (nothing is known of what it held) in the same request,
      // before any node can mark it as a fresh history.
      await new Kvm(jsm.jetstream()).create(BUCKETS.nonces, { ...nonceBucketOptions(replicas, to === 'memory' ? 'memory' : 'disk'), metadata: { [HISTORY_MARK]: lostMark(Date.now()) } });
      log(`${NONCE_STREAM}: missing (a move cut short); made again on ${to} storage at R${replicas}, signed requests refused for ${HISTORY_NEEDED_MS / 1000} s`);
      return;
    }
    if (!si.config.sealed) await jsm.streams.update(NONCE_STREAM, { sealed: true } as Partial<StreamUpdateConfig>);
    const sealed = await jsm.streams.info(NONCE_STREAM);
    const held = sealed.state.messages > 0;
    const config = sealed.config;
    log(`${NONCE_STREAM}: sealed with ${sealed.state.messages} message(s); making it again on ${to} storage`);
    await jsm.streams.delete(NONCE_STREAM);
    const metadata: Record<string, string> = { ...(config.metadata ?? {}) };
    delete metadata[HISTORY_MARK];
    if (held) metadata[HISTORY_MARK] = lostMark(Date.now());
    try {
      await jsm.streams.add({ ...config, sealed: false, storage: to as StorageType, num_replicas: Math.max(replicas, config.num_replicas), metadata });
      log(`${NONCE_STREAM}: on ${to} storage at R${Math.max(replicas, config.num_replicas)}${held ? `; signed requests refused for ${HISTORY_NEEDED_MS / 1000} s, until no nonce it held could be replayed` : ''}`);
      return;
    } catch (e) {
      // Made again meanwhile (a membershipd opening its buckets): look again.
      if (Date.now() > deadline) throw new ScaleError(`${NONCE_STREAM}: could not be made again on ${to} storage`, { cause: e });
      await sleep(500);
    }
  }
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
export async function scaleStreams(nc: NatsConnection, replicas: number, stepTimeoutMs: number, log: (s: string) => void, nonceStore: NonceStore = 'disk'): Promise<string[]> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  const changed: string[] = [];
  const want = nonceStorage(replicas, nonceStore);
  for (const s of await readReplicas(jsm)) {
    const { name, replicas: have } = s;
    const move = nonceMove(s, replicas, want);
    if (move) {
      const { to } = move;
      log(`${name}: ${move.change}`);
      await moveNonces(jsm, want, to, stepTimeoutMs, log);
      await waitStreamCurrent(jsm, name, to, stepTimeoutMs);
      log(`${name}: R${to}, leader elected, every replica current`);
      changed.push(name);
      continue;
    }
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
