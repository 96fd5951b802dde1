// Three plain nats-servers on loopback for the minimal reproductions
// (bench/repro-*.ts): no TLS, no auth, no unibus part; each in its own
// folder under `work`, cluster `repro`, JetStream on. Every wait is bounded.
// NATS_SERVER_BIN names another nats-server binary (default: the one on PATH).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { sleep } from '../../src/util/time.js';

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN || 'nats-server';

export class NatsTrio {
  readonly procs: (ChildProcess | null)[] = [null, null, null];
  constructor(
    readonly ips: readonly string[],
    readonly work: string,
    readonly ports: { client: number; route: number; http?: number },
  ) {}

  start(i: number): void {
    const routes = this.ips.filter((_, j) => j !== i).map((ip) => `nats-route://${ip}:${this.ports.route}`).join(', ');
    const conf = [`server_name: s${i}`, `listen: ${this.ips[i]}:${this.ports.client}`, ...(this.ports.http ? [`http: ${this.ips[i]}:${this.ports.http}`] : []), `jetstream { store_dir: "${join(this.work, `s${i}`)}" }`, `cluster { name: repro, listen: ${this.ips[i]}:${this.ports.route}, routes: [${routes}] }`, ''];
    writeFileSync(join(this.work, `s${i}.conf`), conf.join('\n'));
    this.procs[i] = spawn(NATS_SERVER_BIN, ['-c', join(this.work, `s${i}.conf`)], { stdio: ['ignore', 'ignore', 'ignore'] });
  }

  /** SIGTERM, waited for (30 s), then SIGKILL. */
  async stop(i: number): Promise<void> {
    const p = this.procs[i];
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([done, sleep(30_000)]);
    if (p.exitCode === null) p.kill('SIGKILL');
    this.procs[i] = null;
  }

  async stopAll(): Promise<void> {
    for (let i = 0; i < this.procs.length; i++) await this.stop(i);
  }

  /** Starts all three, connects to them, and waits (30 s) until JetStream answers. */
  async up(): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
    for (let i = 0; i < 3; i++) this.start(i);
    const nc = await connect({ servers: this.ips.map((ip) => `nats://${ip}:${this.ports.client}`), timeout: 5000, reconnect: true, maxReconnectAttempts: -1, waitOnFirstConnect: true });
    let jsm = await jetstreamManager(nc, { timeout: 5000 }).catch(() => null);
    for (let t = 0; !jsm && t < 60; t++) {
      await sleep(500);
      jsm = await jetstreamManager(nc, { timeout: 5000 }).catch(() => null);
    }
    if (!jsm) throw new Error('JetStream never answered within 30 s');
    return { nc, jsm };
  }
}

/** Adds a stream, again every 0.5 s while the cluster is still forming (30 s at most). */
export async function addStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  for (let t = 0; ; t++) {
    const e = await jsm.streams.add(cfg).then(() => null, (x: Error) => x);
    if (!e) return;
    if (t > 60) throw e;
    await sleep(500);
  }
}

/** The version line of the nats-server the trio runs. */
export function serverVersion(): string {
  return spawnSync(NATS_SERVER_BIN, ['--version'], { encoding: 'utf8' }).stdout.trim();
}
