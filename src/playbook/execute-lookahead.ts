// Planning ahead on one host. A module's plan only reads the host; while no
// task changes anything, the plans of the next tasks are the same whether
// made now or in turn. So when task i is about to run, the plans of i+1.. are
// started too (concurrent reads on the one connection); the moment a task
// runs commands on the host, the plans made ahead are dropped and made again
// in turn. A no-op run thus costs about one round trip of reads per host
// instead of one per task, and check mode the same, with the same results:
// the plans come from the same planTask either way.
//
// A task is planned ahead only when nothing before it can change its inputs:
// no loop/until/run_once/delegate_to, and no reference to a name that an
// earlier, not yet finished task registers or sets (register, set_fact).
import type { ModulePlan } from '../modules/types.js';
import type { Task } from './types.js';

/**
 * How many tasks are planned ahead on one host. Their stat reads go out as one
 * exec (execute-batch.ts), so the ssh channels open at once stay well under
 * sshd's MaxSessions (10 per connection).
 */
export const LOOKAHEAD = 12;

function producedNames(t: Task): string[] {
  const names = t.register ? [t.register] : [];
  if (t.module === 'set_fact') names.push(...Object.keys(t.args));
  return names;
}

function mentions(t: Task, names: Set<string>): boolean {
  if (!names.size) return false;
  const text = JSON.stringify([t.args, t.when ?? null, t.changed_when ?? null, t.failed_when ?? null]);
  for (const n of names) if (new RegExp(`\\b${n.replace(/[^A-Za-z0-9_]/g, '')}\\b`).test(text)) return true;
  return false;
}

function plannable(t: Task): boolean {
  return t.loop === undefined && !t.until && !t.run_once && t.delegate_to === undefined;
}

export interface AheadPlanner {
  /** A plan of `task` made now, or null when the task will not need one (when: false, skipped). Throws on a bad expression. */
  (task: Task): Promise<ModulePlan> | null;
}

export class Lookahead {
  #plans = new Map<number, Promise<ModulePlan> | null>();
  /** The next task to plan ahead; -1 when nothing is planned ahead (start or after a change). */
  #next = -1;
  /** The chain stopped at #next (a task that must plan in turn): nothing further until it ran. */
  #blocked = false;

  constructor(private readonly tasks: Task[], private readonly depth = LOOKAHEAD) {}

  /**
   * The plan for task i if one was made ahead (or is made now, with the ones
   * after it, keeping `depth` tasks planned ahead); undefined when task i
   * must plan in turn.
   */
  planFor(i: number, planNow: AheadPlanner): Promise<ModulePlan> | undefined {
    if (this.#next <= i) {
      this.#next = i;
      this.#blocked = false;
    }
    this.#topUp(i, planNow);
    const p = this.#plans.get(i);
    this.#plans.delete(i);
    return p ?? undefined;
  }

  /** Commands ran on the host: every plan made ahead is stale. */
  invalidate(): void {
    this.#plans.clear();
    this.#next = -1;
  }

  #topUp(from: number, planNow: AheadPlanner): void {
    if (this.#blocked) return;
    // Names that tasks from `from` up to the window's end register or set: not known yet.
    const pending = new Set<string>();
    for (let j = from; j < this.#next; j++) for (const n of producedNames(this.tasks[j]!)) pending.add(n);
    while (this.#next < this.tasks.length && this.#next < from + this.depth) {
      const j = this.#next;
      const t = this.tasks[j]!;
      if (!plannable(t) || (j > from && mentions(t, pending))) {
        this.#blocked = j > from;
        if (j === from) this.#next = j + 1; // plans in turn; the window moves on after it
        return;
      }
      let p: Promise<ModulePlan> | null;
      try {
        p = planNow(t);
      } catch {
        this.#blocked = j > from;
        if (j === from) this.#next = j + 1;
        return; // the task itself reports its bad expression when it runs
      }
      p?.catch(() => undefined); // awaited (and reported) when the task runs
      this.#plans.set(j, p);
      for (const n of producedNames(t)) pending.add(n);
      this.#next = j + 1;
    }
  }
}
