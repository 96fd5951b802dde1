// Holds the deploy lease on every target host for a whole run: takes them all
// (in parallel), refreshes their heartbeat, and releases them at the end. Check
// mode judges the same leases the same way and takes none (peekAll).
import type { Transport } from '../transport/types.js';
import { acquireLease, heartbeatLease, HEARTBEAT_MS, peekLease, releaseLease, type Lease, type StaleHolder } from './lock.js';

export interface LeaseTarget {
  name: string;
  transport: Transport;
  stateDir: string;
}

function describeHolder(h: StaleHolder): string {
  return `last heartbeat ${h.ageS}s ago` + (h.lease ? `, held by ${h.lease.owner} pid ${h.lease.pid} playbook ${h.lease.playbook}` : '');
}

/**
 * Runs take on every target; leftS is what remains of the wait. Without a wait,
 * all hosts at once (one round trip). With a wait, one by one in name order,
 * stopping at the first refusal: two waiting runs then never each hold half the
 * hosts while waiting for the other half. One deadline for the whole set:
 * waiting host by host never adds up past waitS.
 */
async function settleInTurn(targets: LeaseTarget[], waitS: number, take: (t: LeaseTarget, leftS: number) => Promise<void>): Promise<PromiseSettledResult<void>[]> {
  const deadline = Date.now() + waitS * 1000;
  const leftS = () => Math.max(0, (deadline - Date.now()) / 1000);
  if (waitS <= 0) return Promise.allSettled(targets.map((t) => take(t, leftS())));
  const results: PromiseSettledResult<void>[] = [];
  for (const t of [...targets].sort((a, b) => a.name.localeCompare(b.name))) {
    const r = await take(t, leftS()).then(() => ({ status: 'fulfilled' as const, value: undefined }), (reason: unknown) => ({ status: 'rejected' as const, reason }));
    results.push(r);
    if (r.status === 'rejected') break;
  }
  return results;
}

export class LeaseSet {
  #held: LeaseTarget[] = [];
  #timer: NodeJS.Timeout | undefined;
  #beating = false;

  constructor(
    readonly lease: Lease,
    private readonly warn: (host: string, message: string) => void,
  ) {}

  /**
   * Takes the lease on every target. When one host refuses, the leases already
   * taken are released and the error is rethrown: a run holds all or none.
   */
  async acquireAll(targets: LeaseTarget[], waitS: number, readFile?: string): Promise<Map<string, string | null>> {
    const files = new Map<string, string | null>();
    const results = await settleInTurn(targets, waitS, async (t, leftS) => {
      const r = await acquireLease(t.transport, t.stateDir, this.lease, leftS, readFile);
      this.#held.push(t);
      files.set(t.name, r.file ?? null);
      if (r.tookOver) this.warn(t.name, `took over a stale deploy lock (${describeHolder(r.tookOver)})`);
    });
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.releaseAll();
      throw failed.reason;
    }
    this.#timer = setInterval(() => void this.#beat(), HEARTBEAT_MS);
    this.#timer.unref();
    return files;
  }

  /**
   * Check mode: judges every target's lease as acquireAll would, in the same
   * order and with the same wait, taking none. Throws what acquireAll would
   * throw; a lease a run would take over is warned of, as the run warns.
   */
  async peekAll(targets: LeaseTarget[], waitS: number, readFile?: string): Promise<Map<string, string | null>> {
    const files = new Map<string, string | null>();
    const results = await settleInTurn(targets, waitS, async (t, leftS) => {
      const r = await peekLease(t.transport, t.stateDir, this.lease, leftS, readFile);
      files.set(t.name, r.file ?? null);
      if (r.wouldTakeOver) this.warn(t.name, `a run would take over a stale deploy lock (${describeHolder(r.wouldTakeOver)})`);
    });
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return files;
  }

  async #beat(): Promise<void> {
    if (this.#beating) return;
    this.#beating = true;
    try {
      await Promise.all(
        this.#held.map(async (t) => {
          const ok = await heartbeatLease(t.transport, t.stateDir, this.lease).catch(() => false);
          if (!ok) this.warn(t.name, 'lost the deploy lock (another run took it over, or the host is unreachable)');
        }),
      );
    } finally {
      this.#beating = false;
    }
  }

  /**
   * Releases every lease still held; errors are reported, not thrown. `audit`
   * gives a host's audit line, appended in the same round trip.
   */
  async releaseAll(audit?: (name: string) => { dir: string; line: string } | undefined): Promise<void> {
    clearInterval(this.#timer);
    const held = this.#held;
    this.#held = [];
    await Promise.all(
      held.map((t) =>
        releaseLease(t.transport, t.stateDir, this.lease, audit?.(t.name)).catch((e: unknown) => this.warn(t.name, `could not release the deploy lock or write the audit line: ${(e as Error).message}`)),
      ),
    );
  }
}
