// Keeps a node's data-plane authorization in step with the users and members
// buckets: any change triggers a recompute (consistent reads), and a
// changed list is applied (render, validate, SIGHUP) and cached on disk.
// A slow periodic resync covers a watch that ended while quorum was lost.
import { KvWatchInclude, type KV } from '@nats-io/kv';
import type { AllowUser } from '../nats/conf.js';
import type { Store } from '../store/buckets.js';
import { computeAllowlist, saveAllowlist } from './allowlist.js';

export interface AclWatchOptions {
  apply: (users: AllowUser[]) => Promise<unknown>;
  cacheFile?: string;
  log?: (line: string) => void;
  debounceMs?: number;
  resyncMs?: number;
}

export class AclWatcher {
  #last = '';
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;
  #stopped = false;
  #stops: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly o: AclWatchOptions,
  ) {}

  /**
   * Applies the current list once, then follows changes. The watches start
   * even when the first sync fails (no quorum yet): it is retried on the next
   * change or resync, and the error is passed on for the caller to log.
   */
  async start(): Promise<void> {
    // Watches first, then the first sync: a change made in between is then
    // seen by the watch, not left for the periodic resync. A store that
    // follows its buckets (store/follow.ts) already watches them: its copies
    // say when they change. Otherwise the watcher keeps its own watches,
    // bounded: without quorum they keep retrying on their own.
    const follow = this.store.follow;
    if (follow) {
      this.#stops.push(follow.users.onChange(() => this.schedule()), follow.members.onChange(() => this.schedule()));
    } else {
      const watching = [this.store.kv.users, this.store.kv.members].map((kv) => new Promise<void>((ready) => void this.#follow(kv, ready)));
      await Promise.race([Promise.all(watching), new Promise((r) => setTimeout(r, 5000).unref())]);
    }
    this.#resync = setInterval(() => this.schedule(), this.o.resyncMs ?? 10_000);
    this.#resync.unref();
    await this.sync();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#resync);
    for (const s of this.#stops) s();
  }

  async #follow(kv: KV, ready: () => void): Promise<void> {
    while (!this.#stopped) {
      try {
        const it = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
        this.#stops.push(() => it.stop());
        ready();
        // A watch re-made after a failure may have missed changes meanwhile.
        this.schedule();
        for await (const _ of it) this.schedule();
      } catch (err) {
        this.o.log?.(`acl watch: ${(err as Error).message}; watching again`);
      }
      if (!this.#stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.sync().catch(() => {}), this.o.debounceMs ?? 50);
  }

  /** Recompute and apply when changed. Failures keep the last applied list in force. */
  async sync(): Promise<boolean> {
    if (this.#running) {
      this.#again = true;
      return false;
    }
    this.#running = true;
    try {
      const users = await computeAllowlist(this.store);
      const text = JSON.stringify(users);
      if (text === this.#last) return false;
      await this.o.apply(users);
      this.#last = text;
      if (this.o.cacheFile) await saveAllowlist(this.o.cacheFile, users);
      this.o.log?.(`allowlist applied: ${users.length} users`);
      return true;
    } catch (err) {
      this.o.log?.(`allowlist not updated (last list stays in force): ${(err as Error).message}`);
      throw err;
    } finally {
      this.#running = false;
      if (this.#again) {
        this.#again = false;
        this.schedule();
      }
    }
  }
}
