// Tag selection, as in Ansible: --tags picks tasks carrying one of the tags
// (`all` picks every task not tagged `never`); `always` runs unless skipped by
// name; `never` runs only when one of its tags is asked for explicitly;
// --skip-tags wins over everything.
import type { Play, Task } from './types.js';

export interface TagFilter {
  tags: string[];
  skipTags: string[];
}

export function isTaskSelected(task: Task, f: TagFilter): boolean {
  const t = new Set(task.tags);
  if (f.skipTags.some((s) => t.has(s) || (s === 'all' && !t.has('always')))) return false;
  const asked = f.tags.length ? f.tags : ['all'];
  if (t.has('always')) return true;
  if (t.has('never')) return asked.some((a) => a !== 'all' && t.has(a));
  if (asked.includes('all')) return true;
  if (asked.includes('untagged') && t.size === 0) return true;
  return asked.some((a) => t.has(a));
}

/** The tasks of a list and of the looped includes in it. */
export function flatTasks(tasks: Task[]): Task[] {
  return tasks.flatMap((t) => (t.include ? [t, ...flatTasks(t.include.tasks)] : [t]));
}

/** Every tag on a task of the plays, sorted (handlers are not selected by tags). */
export function listTags(plays: Play[]): string[] {
  return [...new Set(plays.flatMap((p) => flatTasks(p.tasks).flatMap((t) => t.tags)))].sort();
}

/**
 * The asked tags that no task of the plays answers to: a typo in --tags runs
 * nothing (or less than meant), in --skip-tags skips nothing, and both would
 * otherwise pass in silence. `all` always answers; `untagged`, when a task has
 * no tag.
 */
export function findUnmatchedTags(plays: Play[], asked: string[]): string[] {
  const present = new Set(listTags(plays));
  const anyUntagged = plays.some((p) => flatTasks(p.tasks).some((t) => t.tags.length === 0));
  return [...new Set(asked)].filter((a) => a !== 'all' && !(a === 'untagged' && anyUntagged) && !present.has(a));
}
