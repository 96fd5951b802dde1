// Handlers: notified by changed tasks, run once at the end of the play on the
// hosts that notified them. A notification is also recorded on the host the
// moment it happens (<stateDir>/pending-handlers.json, written atomically), so
// that a run that fails or is killed before the handler ran leaves it pending,
// and the next run that has a handler of that name runs it, then clears it.
import type { Transport } from '../transport/types.js';
import type { Task } from './types.js';

export interface PendingHandler {
  handler: string;
  playbook: string;
  since: string;
}

export const PENDING_FILE = 'pending-handlers.json';
const FILE = PENDING_FILE;

/** Names a handler answers to: its name and its listen aliases. */
export function handlerNames(h: Task): string[] {
  return [h.name, ...(h.listen ?? [])];
}

/** The play's handlers that a notification of `name` triggers, in the play's handler order. */
export function handlersFor(handlers: Task[], names: Iterable<string>): Task[] {
  const wanted = new Set(names);
  return handlers.filter((h) => handlerNames(h).some((n) => wanted.has(n)));
}

export async function readPending(t: Transport, stateDir: string): Promise<PendingHandler[]> {
  const buf = await t.get(`${stateDir}/${FILE}`, { sudo: true });
  return parsePending(buf ? buf.toString('utf8') : null);
}

export function parsePending(text: string | null): PendingHandler[] {
  if (!text) return [];
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? (v as PendingHandler[]).filter((p) => typeof p?.handler === 'string') : [];
  } catch {
    // A torn file cannot happen (atomic writes); an edited one is ignored rather than fatal.
    return [];
  }
}

export async function writePending(t: Transport, stateDir: string, pending: PendingHandler[]): Promise<void> {
  if (pending.length === 0) {
    await t.exec({ argv: ['rm', '-f', `${stateDir}/${FILE}`], sudo: true, timeoutMs: 20_000 });
    return;
  }
  await t.exec({ argv: ['mkdir', '-p', '-m', '0700', stateDir], sudo: true, timeoutMs: 20_000 });
  await t.put(`${stateDir}/${FILE}`, Buffer.from(JSON.stringify(pending, null, 1) + '\n'), { mode: 0o600, sudo: true });
}

/**
 * The pending list of one host, kept in memory and mirrored to the host on
 * every change. Not used in check mode (check mode writes nothing).
 */
export class PendingStore {
  constructor(
    private readonly t: Transport,
    private readonly stateDir: string,
    public list: PendingHandler[],
  ) {}

  async add(names: string[], playbook: string): Promise<void> {
    const fresh = names.filter((n) => !this.list.some((p) => p.handler === n));
    if (!fresh.length) return;
    const since = new Date().toISOString();
    this.list = [...this.list, ...fresh.map((handler) => ({ handler, playbook, since }))];
    await writePending(this.t, this.stateDir, this.list);
  }

  async remove(names: string[]): Promise<void> {
    const drop = new Set(names);
    if (!this.list.some((p) => drop.has(p.handler))) return;
    this.list = this.list.filter((p) => !drop.has(p.handler));
    await writePending(this.t, this.stateDir, this.list);
  }
}
