// Roles: roles/<name>/ with tasks.yaml, handlers.yaml, defaults.yaml and
// templates/ (and files/). Every task a role brings carries `role` and
// `roleDir`, so modules look up templates in the role's folder first.
//
// Public API:
//   loadRole(projectDir, name, ctx, where) -> LoadedRole | null (errors pushed to ctx.errors)
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigErrors, type ConfigError } from '../errors.js';
import { configErrorAt, readYamlSource, type DataPath, type YamlSource } from '../yaml/source.js';
import { typeName } from '../yaml/validate.js';
import { parseTaskList, type TaskListContext } from './load-tasks.js';
import type { Task } from './types.js';

export interface LoadedRole {
  name: string;
  dir: string;
  tasks: Task[];
  handlers: Task[];
  defaults: Record<string, unknown>;
}

/** Reads a role file if it exists; syntax errors join the list, a missing optional file is null. */
function readOptional(file: string, errors: ConfigError[]): YamlSource | null {
  if (!existsSync(file)) return null;
  try {
    return readYamlSource(file);
  } catch (err) {
    if (err instanceof ConfigErrors) {
      errors.push(...err.errors);
      return null;
    }
    throw err;
  }
}

function firstExisting(dir: string, base: string): string {
  for (const ext of ['.yaml', '.yml']) if (existsSync(join(dir, base + ext))) return join(dir, base + ext);
  return join(dir, base + '.yaml');
}

export function loadRole(
  projectDir: string,
  name: string,
  ctx: Omit<TaskListContext, 'handlers' | 'role' | 'roleDir'>,
  where: { src: YamlSource; path: DataPath },
): LoadedRole | null {
  const dir = resolve(projectDir, 'roles', name);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    ctx.errors.push(configErrorAt(where.src, where.path, `role '${name}' not found (no folder ${dir})`, 'a folder roles/<name>/ with tasks.yaml'));
    return null;
  }
  const tasksFile = firstExisting(dir, 'tasks');
  if (!existsSync(tasksFile)) {
    ctx.errors.push(configErrorAt(where.src, where.path, `role '${name}' has no tasks.yaml`, `a task list in ${tasksFile}`));
    return null;
  }
  const roleCtx = { ...ctx, role: name, roleDir: dir };
  const tasksSrc = readOptional(tasksFile, ctx.errors);
  const tasks = tasksSrc ? parseTaskList(tasksSrc, [], tasksSrc.data, { ...roleCtx, handlers: false, stack: [tasksFile] }) : [];
  const handlersFile = firstExisting(dir, 'handlers');
  const handlersSrc = readOptional(handlersFile, ctx.errors);
  const handlers = handlersSrc ? parseTaskList(handlersSrc, [], handlersSrc.data, { ...roleCtx, handlers: true, stack: [handlersFile] }) : [];

  let defaults: Record<string, unknown> = {};
  const defaultsSrc = readOptional(firstExisting(dir, 'defaults'), ctx.errors);
  if (defaultsSrc && defaultsSrc.data !== null && defaultsSrc.data !== undefined) {
    const d = defaultsSrc.data;
    if (typeof d !== 'object' || Array.isArray(d)) {
      ctx.errors.push(configErrorAt(defaultsSrc, [], `wrong type: got ${typeName(d)}`, 'a mapping of variable names to default values'));
    } else defaults = d as Record<string, unknown>;
  }
  return { name, dir, tasks, handlers, defaults };
}
