// Keeps a node's data-plane authorization in step with the users and members
// buckets: any change triggers a recompute (consistent reads), and a
// changed list is applied (render, validate, SIGHUP) and cached on disk.
// A slow periodic resync covers a watch that ended while quorum was lost.
//
// A revocation does not wait for the recompute: the recompute reads every
// room under a leader barrier, which takes long on a large cluster and
// fails while quorum is in doubt, and the revoked user would keep their
// NATS access meanwhile. The revoked record itself arrives through the watch
// (it is committed, or the stream would not deliver it), so the user is
// taken out of the list in force at once, and every list applied later
// leaves them out. Taking a user out only ever narrows access.
import { KvWatchInclude, type KV } from '@nats-io/kv';
import type { AllowUser } from '../nats/conf.js';
import type { Store } from '../store/buckets.js';
import type { UserRecord } from '../../protocol/model.js';
import { nkeyFromRaw } from '../../protocol/ed25519.js';
import { computeAllowlist, loadCachedAllowlist, saveAllowlist } from './allowlist.js';

export interface AclWatchOptions {
  apply: (users: AllowUser[]) => Promise<unknown>;
  cacheFile?: string;
  log?: (line: string) => void;
  debounceMs?: number;
  resyncMs?: number;
}

export class AclWatcher {
  #last = '';
  /** The list nats-server enforces now: the last one applied, or the cached one the node started with. */
  #inForce: AllowUser[] | null = null;
  /** nkeys of users seen revoked: no list applied leaves them in. */
  readonly #revoked = new Set<string>();
  /** Applies run one at a time, in order. */
  #applying: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #resync: NodeJS.Timeout | undefined;
  #current: Promise<boolean> | null = null;
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
    if (this.o.cacheFile) this.#inForce = await loadCachedAllowlist(this.o.cacheFile).catch(() => null);
    // Watches first, then the first sync: a change made in between is then
    // seen by the watch, not left for the periodic resync. A store that
    // follows its buckets (store/follow.ts) already watches them: its copies
    // say when they change. Otherwise the watcher keeps its own watches,
    // bounded: without quorum they keep retrying on their own.
    const follow = this.store.follow;
    if (follow) {
      this.#stops.push(
        follow.users.onChange((_key, u) => {
          this.#userChanged(u);
          this.schedule();
        }),
        follow.members.onChange(() => this.schedule()),
      );
      // The copy may have loaded before this watcher listened (a node restarting with its cache in force).
      for (const [, u] of follow.users.current()) this.#userChanged(u);
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
        for await (const e of it) {
          if (kv === this.store.kv.users && e.operation === 'PUT' && e.length > 0) this.#userChanged(e.json<UserRecord>());
          this.schedule();
        }
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

  /** A user's record changed: a revoked one leaves the list in force now. */
  #userChanged(u: UserRecord | null): void {
    if (!u?.sign_pub) return;
    const nkey = nkeyFromRaw(Buffer.from(u.sign_pub, 'hex'));
    if (u.status === 'active') {
      this.#revoked.delete(nkey);
      return;
    }
    if (this.#revoked.has(nkey)) return;
    this.#revoked.add(nkey);
    // Queued behind an apply in flight, which may carry a list computed before the revoke: the
    // list is taken when this apply runs, and every list applied leaves the revoked out.
    if (this.#inForce === null) return;
    void this.#apply(() => this.#inForce ?? [], `${u.handle} revoked: taken out at once`).catch(() => undefined);
  }

  /**
   * Applies the list `list()` gives when its turn comes (one apply at a time),
   * less every user seen revoked; caches it and keeps it as the list in force.
   */
  #apply(list: () => AllowUser[], why: string): Promise<void> {
    const run = this.#applying.then(async () => {
      const users = list().filter((u) => !this.#revoked.has(u.nkey));
      const text = JSON.stringify(users);
      if (text === this.#last) return;
      try {
        await this.o.apply(users);
      } catch (err) {
        this.o.log?.(`allowlist not updated (last list stays in force): ${(err as Error).message}`);
        throw err;
      }
      this.#last = text;
      this.#inForce = users;
      if (this.o.cacheFile) await saveAllowlist(this.o.cacheFile, users);
      this.o.log?.(`allowlist applied: ${users.length} users${why ? ` (${why})` : ''}`);
      // A revoke seen while this list was being applied: the next apply in the chain takes it out.
    });
    this.#applying = run.catch(() => undefined);
    return run;
  }

  /** Recompute and apply when changed. Failures keep the last applied list in force. */
  /**
   * Computes and applies the list. Called while one runs (a change heard
   * meanwhile), it waits for that one and has it run again after: so start()
   * returns with a list applied, whoever began the first sync.
   */
  async sync(): Promise<boolean> {
    if (this.#current) {
      this.#again = true;
      await this.#current.catch(() => false);
      return false;
    }
    this.#current = this.#syncOnce();
    try {
      return await this.#current;
    } finally {
      this.#current = null;
      if (this.#again) {
        this.#again = false;
        this.schedule();
      }
    }
  }

  async #syncOnce(): Promise<boolean> {
    let users: AllowUser[];
    try {
      // A list read before a revoke reached this node still leaves the revoked user out.
      users = (await computeAllowlist(this.store)).filter((u) => !this.#revoked.has(u.nkey));
    } catch (err) {
      this.o.log?.(`allowlist not updated (last list stays in force): ${(err as Error).message}`);
      throw err;
    }
    if (JSON.stringify(users) === this.#last) return false;
    await this.#apply(() => users, '');
    return true;
  }

}
