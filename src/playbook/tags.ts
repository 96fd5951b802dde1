// Tag selection, as in Ansible: --tags picks tasks carrying one of the tags
// (`all` picks every task not tagged `never`); `always` runs unless skipped by
// name; `never` runs only when one of its tags is asked for explicitly;
// --skip-tags wins over everything.
import type { Task } from './types.js';

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
