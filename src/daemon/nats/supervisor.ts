// Supervises one nats-server child: renders and validates its config, spawns
// it with only `-c FILE` in argv, waits for it (racing its early exit, always
// bounded), restarts it on crash with backoff, reloads it with SIGHUP when the
// rendered config changes, and stops it through lame duck.
import { spawn, type ChildProcess } from 'node:child_process';
import { rename, unlink } from 'node:fs/promises';
import { UnibusError } from '../../errors.js';
import { renderNatsConf, type AllowUser, type NatsConf } from './conf.js';
import { writeFileAtomic } from '../../util/fs.js';
import { NatsConfInvalidError, validateConfFile } from './validate.js';
import { fetchJsz, fetchSnapshot, type Jsz } from './monitor.js';
import { sleep } from '../../util/time.js';
import { totalmem } from 'node:os';
import { listCopiesOnDisk, planMoveAside, readCopyOnDisk, readProc, resolveRefs, RunawayWatch, StreamLog, LED_LOOK_MS, SILENT_MS, WATCH_MS, type CopyNews, type CopyOnDisk, type StreamRef } from './runaway.js';
import { pruneQuarantine, quarantineCopy, QUARANTINE_KEPT, REBUILD_EVERY_MS } from './replica-audit.js';

export class SupervisorError extends UnibusError {}
/** The child's memory passed the bound before it was ready (runaway.ts): a restore that does not end. */
export class RunawayStartError extends SupervisorError {}

export type Logger = (line: string) => void;

export interface SupervisorOptions {
  bin: string;
  confFile: string;
  conf: NatsConf;
  /** Forward every child log line (UNIBUS_NATS_DEBUG=1); otherwise only its warnings and errors, and the tail is kept for start errors. */
  debug: boolean;
  log: Logger;
  /** Strings scrubbed from any forwarded child output (the route secret). */
  scrub?: string[];
  startTimeoutMs?: number;
  /** Resident memory past which the child has run away (default: 2 GiB, or half the machine's if less). */
  maxRssBytes?: number;
  /** Monitor silence (while not stopped) that means a runaway (runaway.ts). */
  silentMs?: number;
}

/**
 * The memory bound's default (or half the machine's, if less). A control
 * plane's nats-server held 130-150 MB in a combined chaos run; one running
 * away on a damaged copy passed 12 GB within 80 s, its monitor answering now
 * and then (so the silence alone did not end it).
 */
const DEFAULT_MAX_RSS = 2 * 2 ** 30;

/** nats-server log levels forwarded without debug. */
const FORWARDED = /\[(WRN|ERR|FTL)\]/;
/** How long a stop waits for one stream's step-down to elect another leader. */
const STEP_WAIT_MS = 2000;
/** How often a line that only repeats (with other numbers) is forwarded. */
const REPEAT_MS = 30_000;
/** The answer to the supervisor's own readiness probe while the child starts: not news. */
const OWN_PROBE = /Healthcheck failed: "failed to be ready for connections/;


/** The replicated streams `me` leads, as its monitor says; with `orNone`, also those with no leader yet (an election under way). */
function ledIn(j: Jsz, me: string, orNone = false): StreamRef[] {
  const out: StreamRef[] = [];
  for (const a of j.account_details ?? []) {
    for (const d of a.stream_detail ?? []) {
      // A stream of one replica has nobody to hand it to.
      if (!d.cluster?.replicas?.length) continue;
      if (d.cluster.leader === me || (orNone && !d.cluster.leader)) out.push({ account: a.name, stream: d.name });
    }
  }
  return out;
}

export class NatsSupervisor {
  #o: SupervisorOptions;
  #conf: NatsConf;
  #rendered = '';
  #child: ChildProcess | null = null;
  #stopping = false;
  #restarts = 0;
  #tail: string[] = [];
  #partial = '';
  #repeats = new Map<string, { at: number; left: number }>();
  #listeners = new Set<(pid: number) => void>();
  /** Work to do while the child is down, before the restart (rebuildWhileDown). */
  #whileDown: (() => Promise<void>) | null = null;
  /** Asks the cluster to step this node down from leading one stream (set once connected). */
  #stepDown: ((stream: string) => Promise<void>) | null = null;
  #copyWatch: ((n: CopyNews) => void) | null = null;
  /** What the child's log says of its streams: who to suspect when it runs away. */
  #streamLog = new StreamLog();
  #runaway: RunawayWatch | null = null;
  /** The child once it was ready: the runaway watch judges no child still starting (#waitMonitor bounds those). */
  #readyChild: ChildProcess | null = null;
  #watchTimer: NodeJS.Timeout | undefined;
  /** When each stream's copy was last moved aside here. */
  #movedAt = new Map<string, number>();
  /** A damaged copy is being rebuilt (#rebuildDamaged): one at a time. */
  #rebuildingDamaged = false;
  #damagedQueue: { refs: StreamRef[]; why: string }[] = [];

  constructor(o: SupervisorOptions) {
    this.#o = o;
    this.#conf = o.conf;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }
  get restarts(): number {
    return this.#restarts;
  }
  get monitorPort(): number {
    return this.#conf.monitorPort;
  }
  get conf(): NatsConf {
    return this.#conf;
  }
  /** Called with the new PID each time a child becomes ready (first start and restarts). */
  onReady(fn: (pid: number) => void): void {
    this.#listeners.add(fn);
  }

  /** Renders to FILE.next, validates it with `nats-server -t`, then renames into place. */
  async #writeConf(): Promise<boolean> {
    const text = renderNatsConf(this.#conf);
    if (text === this.#rendered) return false;
    const next = `${this.#o.confFile}.next`;
    await unlink(next).catch(() => {});
    await writeFileAtomic(next, text, 0o600);
    try {
      await validateConfFile(this.#o.bin, next);
    } catch (err) {
      await unlink(next).catch(() => {});
      // nats-server may quote the offending line, which can hold the route secret.
      if (err instanceof NatsConfInvalidError) throw new NatsConfInvalidError(this.#scrub(err.message));
      throw err;
    }
    await rename(next, this.#o.confFile);
    this.#rendered = text;
    return true;
  }

  #scrub(line: string): string {
    let out = line;
    for (const s of this.#o.scrub ?? []) if (s) out = out.split(s).join('<redacted>');
    return out;
  }

  #capture(chunk: Buffer): void {
    const lines = (this.#partial + chunk.toString('utf8')).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const raw of lines) {
      if (!raw) continue;
      const line = this.#scrub(raw);
      this.#streamLog.see(line);
      const stuck = this.#streamLog.takeStuck();
      if (stuck.length) void this.#rebuildDamaged(stuck, 'its copy stopped applying (a critical write error)');
      if (this.#readyChild === this.#child) this.#rebuildCorrupt();
      for (const n of this.#streamLog.takeNews()) this.#copyWatch?.(n);
      this.#tail.push(line);
      if (this.#tail.length > 20) this.#tail.shift();
      // nats-server's own warnings and errors belong in the daemon's journal:
      // a stalled catch-up or a refused route explains a node that stays 503.
      if (this.#o.debug) this.#o.log(`nats-server: ${line}`);
      else if (FORWARDED.test(line) && !OWN_PROBE.test(line)) this.#forward(line);
    }
  }

  /**
   * A line that repeats with other numbers only (a route retried every second
   * while its peer is down) is forwarded once per REPEAT_MS, with a count of
   * the ones left out: the journal keeps the news, not the flood.
   */
  #forward(line: string): void {
    const key = line.replace(/^\[\d+\] \S+ \S+ /, '').replace(/\d+/g, '#');
    const now = Date.now();
    const seen = this.#repeats.get(key);
    if (seen && now - seen.at < REPEAT_MS) {
      seen.left++;
      return;
    }
    if (this.#repeats.size > 500) this.#repeats.clear();
    this.#repeats.set(key, { at: now, left: 0 });
    const more = seen?.left ? ` (${seen.left} more like it in the ${Math.round((now - seen.at) / 1000)} s before, not shown)` : '';
    this.#o.log(`nats-server: ${line}${more}`);
  }

  async start(): Promise<number> {
    await this.#writeConf();
    let pid: number;
    try {
      pid = await this.#spawnReady();
    } catch (err) {
      // A restore that never ended: its copy is moved aside and the child tried once more.
      const restoring = this.#streamLog.restoring;
      // Only a runaway: a restore that is merely slow (a large stream) keeps its copy.
      if (!(err instanceof RunawayStartError) || !restoring.length) throw err;
      this.#o.log(`nats-server did not start: ${(err as Error).message}`);
      if (!(await this.#moveAside(restoring, 'its restore did not end'))) throw err;
      pid = await this.#spawnReady();
    }
    this.#watch();
    return pid;
  }

  get #maxRss(): number {
    return this.#o.maxRssBytes ?? Math.min(totalmem() / 2, DEFAULT_MAX_RSS);
  }

  /**
   * Every WATCH_MS: a running child whose monitor stays silent, or whose
   * memory passes the bound, is killed, the copies it restores or leads
   * moved aside while it is down (runaway.ts), and started again through the
   * crash path.
   */
  #watch(): void {
    this.#runaway = new RunawayWatch(this.#o.silentMs ?? SILENT_MS, this.#maxRss);
    let busy = false;
    let ledAt = 0;
    let lastRunaway = -Infinity;
    this.#watchTimer = setInterval(() => {
      const c = this.#child;
      if (busy || this.#stopping || !c || c !== this.#readyChild || c.exitCode !== null || c.signalCode !== null || this.#whileDown) return;
      busy = true;
      void (async () => {
        const answered = await fetch(`http://127.0.0.1:${this.#conf.monitorPort}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(2000) }).then(
          (r) => (void r.body?.cancel().catch(() => undefined), true),
          () => false,
        );
        if (this.#child !== c) return;
        if (answered && Date.now() - ledAt >= LED_LOOK_MS) {
          ledAt = Date.now();
          const led = await fetchJsz(this.#conf.monitorPort, 2000).then((j) => ledIn(j, this.#conf.serverName), () => null);
          if (led && this.#child === c) this.#streamLog.setLed(led);
        }
        const v = this.#runaway!.observe({ answered, proc: await readProc(c.pid!) }, Date.now());
        if (!v || this.#child !== c) return;
        const suspected = this.#streamLog.suspects();
        const plan = planMoveAside(suspected, lastRunaway, Date.now(), REBUILD_EVERY_MS);
        const suspects = plan.all ? await listCopiesOnDisk(this.#conf.storeDir) : suspected;
        lastRunaway = Date.now();
        this.#o.log(`nats-server (pid ${c.pid}) ran away: ${v.why}; killing it, ${plan.what}`);
        this.#whileDown = async () => void (await this.#moveAside(suspects, 'its nats-server ran away on it'));
        c.kill('SIGKILL');
      })()
        .catch((err: Error) => this.#o.log(`runaway watch: ${err.message}`))
        .finally(() => (busy = false));
    }, WATCH_MS);
    this.#watchTimer.unref();
  }

  /** A copy found damaged outside the child's log (scrub.ts: one its reader cannot read through): moved aside as #rebuildDamaged does, once the child is ready. */
  rebuildDamagedCopy(stream: string, why: string): void {
    if (this.#readyChild === this.#child) void this.#rebuildDamaged([{ account: '', stream }], why);
  }

  /** Each copy the child's log found corrupt bytes in is moved aside (#rebuildDamaged). */
  #rebuildCorrupt(): void {
    for (const c of this.#streamLog.takeCorrupt()) void this.#rebuildDamaged([c.ref], `its copy holds bytes nats-server found corrupt ("${c.said}")`);
  }

  /**
   * A damaged copy (one that stopped applying, or holds corrupt bytes):
   * moved aside through a graceful restart, so the node rejoins that stream
   * empty and its leader sends it again. Only a replicated copy not moved
   * within REBUILD_EVERY_MS (#moveAside's bounds, checked first so nothing
   * restarts for a copy that would stay); one such restart at a time, the
   * copies named meanwhile queued.
   */
  async #rebuildDamaged(refs: StreamRef[], why: string): Promise<void> {
    if (this.#stopping) return;
    // One at a time: a copy named while another is being rebuilt waits its turn (bounded by the queue's own rebuilds).
    if (this.#rebuildingDamaged) {
      this.#damagedQueue.push({ refs, why });
      return;
    }
    this.#rebuildingDamaged = true;
    try {
      const onDisk = refs.some((r) => !r.account) ? await listCopiesOnDisk(this.#conf.storeDir) : [];
      const movable: StreamRef[] = [];
      for (const ref of resolveRefs(refs, onDisk)) {
        const stays = this.#staysInPlace(ref, await readCopyOnDisk(this.#conf.storeDir, ref).catch(() => null));
        if (stays) this.#o.log(`${ref.stream}: ${why}, but ${stays}: left in place`);
        else movable.push(ref);
      }
      if (!movable.length) return;
      const names = movable.map((r) => r.stream).join(', ');
      await this.restartChildWith(`${names}: ${why}`, async () => void (await this.#moveAside(movable, why)));
    } catch (err) {
      this.#o.log(`rebuilding a damaged copy failed: ${(err as Error).message}`);
    } finally {
      this.#rebuildingDamaged = false;
      const next = this.#damagedQueue.shift();
      if (next) void this.#rebuildDamaged(next.refs, next.why);
    }
  }

  /** Why a copy is not moved aside (not on disk, the only copy, or moved within REBUILD_EVERY_MS), or null when it may be. */
  #staysInPlace(ref: StreamRef, copy: CopyOnDisk | null): string | null {
    if (!copy) return 'its copy is not on disk';
    if (copy.replicas < 2) return `it is the only copy (R${copy.replicas})`;
    if (Date.now() - (this.#movedAt.get(ref.stream) ?? -Infinity) < REBUILD_EVERY_MS) return `its copy was moved aside less than ${REBUILD_EVERY_MS / 60_000} min ago`;
    return null;
  }

  /**
   * Moves each suspect copy aside (<store>/quarantine/) while the child is
   * down: never a copy of one replica, never one moved within
   * REBUILD_EVERY_MS. True when anything moved.
   */
  async #moveAside(refs: StreamRef[], why: string): Promise<boolean> {
    let moved = false;
    const when = new Date().toISOString().replace(/[:.]/g, '-');
    const onDisk = refs.some((r) => !r.account) ? await listCopiesOnDisk(this.#conf.storeDir) : [];
    for (const ref of resolveRefs(refs, onDisk)) {
      const copy = await readCopyOnDisk(this.#conf.storeDir, ref);
      if (!copy) continue;
      const stays = this.#staysInPlace(ref, copy);
      if (stays) {
        this.#o.log(`${ref.stream}: ${why}, but ${stays}: left in place`);
        continue;
      }
      this.#movedAt.set(ref.stream, Date.now());
      this.#o.log(`${ref.stream}: ${why}; copy moved aside to ${await quarantineCopy(this.#conf.storeDir, copy, when)}, rejoining empty`);
      moved = true;
    }
    if (moved) await pruneQuarantine(this.#conf.storeDir, QUARANTINE_KEPT);
    return moved;
  }

  async #spawnReady(): Promise<number> {
    this.#tail = [];
    this.#partial = '';
    this.#streamLog.reset();
    // The child gets no copy of a route secret passed through the environment.
    const env = { ...process.env };
    delete env.UNIBUS_CLUSTER_PASS;
    const child = spawn(this.#o.bin, ['-c', this.#o.confFile], { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.#child = child;
    child.stdout!.on('data', (c: Buffer) => this.#capture(c));
    child.stderr!.on('data', (c: Buffer) => this.#capture(c));
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (cause) => reject(new SupervisorError(`cannot start ${this.#o.bin}`, { cause })));
      child.once('exit', (code, sig) =>
        reject(new SupervisorError(`nats-server exited during start (code ${code}, signal ${sig}): ${this.#tail.slice(-5).join(' | ')}`)),
      );
    });
    exited.catch(() => {});
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    const timeout = this.#o.startTimeoutMs ?? 30_000;
    try {
      await Promise.race([exited, this.#waitMonitor(timeout, child)]);
    } catch (err) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        // Its ports and store are free only once it is gone: the next try needs them.
        await Promise.race([gone, sleep(5000)]);
      }
      throw err;
    }
    child.once('exit', (code, sig) => void this.#onExit(child, code, sig));
    this.#runaway?.reset(Date.now());
    this.#readyChild = child;
    // A copy found corrupt while the child started is rebuilt once it is ready: a restart during its start would fail the start.
    this.#rebuildCorrupt();
    for (const fn of this.#listeners) fn(child.pid!);
    return child.pid!;
  }

  async #waitMonitor(timeoutMs: number, child: ChildProcess): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const url = `http://127.0.0.1:${this.#conf.monitorPort}/healthz?js-enabled-only=true`;
    let nextLook = 0;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() >= nextLook) {
        nextLook = Date.now() + 1000;
        const p = await readProc(child.pid!);
        if (p && p.rssBytes > this.#maxRss) {
          const restoring = this.#streamLog.restoring.map((r) => r.stream).join(', ');
          throw new RunawayStartError(`nats-server ran away while starting: ${Math.round(p.rssBytes / 2 ** 20)} MiB resident (bound ${Math.round(this.#maxRss / 2 ** 20)} MiB)${restoring ? `, restoring ${restoring}` : ''}`);
        }
      }
      await sleep(25);
    }
    throw new SupervisorError(`nats-server not ready within ${timeoutMs} ms: ${this.#tail.slice(-5).join(' | ')}`);
  }

  async #onExit(child: ChildProcess, code: number | null, sig: NodeJS.Signals | null): Promise<void> {
    if (this.#stopping || this.#child !== child) return;
    this.#child = null;
    const work = this.#whileDown;
    this.#whileDown = null;
    if (work) {
      try {
        await work();
      } catch (err) {
        this.#o.log(`while nats-server was down: ${(err as Error).message}`);
      }
    }
    // Backoff grows per consecutive failure so a crash loop does not spin.
    let attempt = 0;
    while (!this.#stopping) {
      const delay = Math.min(250 * 2 ** attempt, 8000);
      this.#o.log(`nats-server (pid ${child.pid}) exited (code ${code}, signal ${sig}); restarting in ${delay} ms`);
      await sleep(delay);
      if (this.#stopping) return;
      try {
        const pid = await this.#spawnReady();
        this.#restarts++;
        this.#o.log(`nats-server restarted (pid ${pid})`);
        return;
      } catch (err) {
        this.#o.log(`nats-server restart failed: ${(err as Error).message}`);
        if (err instanceof RunawayStartError) await this.#moveAside(this.#streamLog.restoring, 'its restore did not end').catch((e: Error) => this.#o.log(`moving a copy aside failed: ${e.message}`));
        attempt++;
      }
    }
  }

  /** Stops the child so the crash path starts a fresh one (new routes, same config). */
  restartChild(reason: string): void {
    const c = this.#child;
    if (!c || this.#stopping || c.exitCode !== null) return;
    this.#o.log(`restarting nats-server (pid ${c.pid}): ${reason}`);
    c.kill('SIGTERM');
  }

  /**
   * Hands the child's leaderships off and ends it (as stop does), runs
   * `whileDown` once it has exited, then starts a fresh child through the
   * crash path. Resolves once the new child is ready (or the bound passes).
   */
  async restartChildWith(reason: string, whileDown: () => Promise<void>, boundMs = 60_000): Promise<boolean> {
    const c = this.#child;
    if (!c || this.#stopping || c.exitCode !== null) return false;
    this.#o.log(`restarting nats-server (pid ${c.pid}): ${reason}`);
    this.#whileDown = whileDown;
    const back = new Promise<boolean>((r) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(fn);
        r(false);
      }, boundMs);
      timer.unref();
      const fn = () => {
        clearTimeout(timer);
        this.#listeners.delete(fn);
        r(true);
      };
      this.#listeners.add(fn);
    });
    await this.#handOffAndEnd(c, 5000, 10_000);
    return back;
  }

  /** Replaces the data-plane users; reloads only when the rendered config changed. */
  async setAllowlist(users: AllowUser[]): Promise<boolean> {
    const prev = this.#conf;
    this.#conf = { ...this.#conf, allowlist: users };
    try {
      return await this.reload();
    } catch (err) {
      this.#conf = prev;
      throw err;
    }
  }

  /**
   * Re-renders and validates; SIGHUPs the child when the file changed, or
   * always with force (an operator's SIGHUP: certificate files may have been
   * rotated under an unchanged config, so the current file is re-validated).
   */
  async reload(force = false): Promise<boolean> {
    const changed = await this.#writeConf();
    if (!changed && force) await validateConfFile(this.#o.bin, this.#o.confFile);
    if ((changed || force) && this.#child?.pid) process.kill(this.#child.pid, 'SIGHUP');
    return changed || force;
  }

  /**
   * How a stop hands off the streams this node leads, one at a time, before
   * the lame duck: measured with nats-server 2.10.27 alone
   * (bench/repro-handoff.ts, 6 streams, 6 stops each), the lame duck steps
   * down from everything at once and a few publishes in flight are never
   * answered (38 timeouts); stepped down one by one first, 17, with each
   * stream's gap between acknowledgements 277 ms at the median.
   */
  setStepDown(fn: (stream: string) => Promise<void>): void {
    this.#stepDown = fn;
  }

  /**
   * Told of each copy the child rebuilt from its blocks at a start and of
   * each election it wins, as its log says them (the replica audit keeps a
   * rebuilt copy from leading until it is judged). Set after the child
   * started: what its log said before is told at once (the copies it
   * rebuilt, and those of them it leads already).
   */
  setCopyWatch(fn: (n: CopyNews) => void): void {
    this.#copyWatch = fn;
    const rebuilt = this.#streamLog.rebuilt;
    for (const stream of rebuilt) fn({ kind: 'rebuilt', stream });
    for (const r of this.#streamLog.led) if (rebuilt.includes(r.stream)) fn({ kind: 'led', stream: r.stream });
  }

  /**
   * The streams this node leads stepped down one at a time (each waited
   * for, STEP_WAIT_MS at most), then lame duck (what is left: the meta
   * group, consumers), then SIGTERM once this node leads nothing
   * or after handoffMs, then SIGKILL if it still lingers. Every wait is bounded.
   */
  async stop(handoffMs = 5000, exitMs = 10_000): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#watchTimer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await this.#handOffAndEnd(child, handoffMs, exitMs);
  }

  async #handOffAndEnd(child: ChildProcess, handoffMs: number, exitMs: number): Promise<void> {
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    const deadline = Date.now() + handoffMs;
    const moved = await this.#stepDownEach(deadline);
    if (moved) this.#o.log(`stepped down from ${moved}`);
    child.kill('SIGUSR2');
    this.#o.log(`nats-server (pid ${child.pid}) in lame duck`);
    while (Date.now() < deadline && child.exitCode === null) {
      if (!(await this.#leadsAnything())) break;
      await sleep(200);
    }
    if (child.exitCode === null) child.kill('SIGTERM');
    const t = await Promise.race([gone.then(() => 'exited'), sleep(exitMs).then(() => 'timeout')]);
    if (t === 'timeout') {
      this.#o.log(`nats-server (pid ${child.pid}) did not exit in ${exitMs} ms; killing`);
      child.kill('SIGKILL');
      await Promise.race([gone, sleep(2000)]);
    }
  }

  /** Each stream this node leads stepped down in turn, within `deadline`: what moved, as a phrase. */
  async #stepDownEach(deadline: number): Promise<string> {
    const stepDown = this.#stepDown;
    if (!stepDown) return '';
    const moved: string[] = [];
    for (const stream of await this.#ledStreams()) {
      if (Date.now() >= deadline) break;
      await stepDown(stream).catch(() => undefined);
      for (const until = Math.min(deadline, Date.now() + STEP_WAIT_MS); Date.now() < until; await sleep(50)) {
        const led = await this.#ledStreams(true);
        if (!led.includes(stream)) {
          moved.push(stream);
          break;
        }
      }
    }
    return moved.join(', ');
  }

  /** The streams this node leads, from its own monitor; with `orNone`, also those with no leader yet (an election under way). */
  async #ledStreams(orNone = false): Promise<string[]> {
    try {
      const s = await fetchSnapshot(this.#conf.monitorPort, 1000);
      return ledIn(s.jsz, s.varz.server_name, orNone).map((r) => r.stream);
    } catch {
      return [];
    }
  }

  async #leadsAnything(): Promise<boolean> {
    try {
      const s = await fetchSnapshot(this.#conf.monitorPort, 1000);
      const me = s.varz.server_name;
      if (!s.jsz.meta_cluster) return false; // standalone: nothing to hand off
      if (s.jsz.meta_cluster.leader === me) return true;
      for (const a of s.jsz.account_details ?? []) {
        for (const d of a.stream_detail ?? []) if (d.cluster?.leader === me) return true;
      }
      return false;
    } catch {
      return false;
    }
  }
}
