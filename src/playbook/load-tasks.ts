// Parses a YAML task list (a play's tasks or handlers, a role's tasks.yaml,
// an included file) into Task objects, Ansible-style: one module key whose
// value is the args, plus keywords. `import_tasks: file.yaml` is expanded in
// place, its when/tags applied to every imported task (static, as in
// Ansible). `include_tasks` (dynamic) stays one task that holds the file's
// tasks: the executor runs them when it reaches the include, once, or once per
// item of its `loop` (with `loop_control: {loop_var}`); its `when` is judged
// there (per item, with the item bound) and is not copied onto the included
// tasks; its tags select the include itself, not the tasks in it (Ansible's
// rules for include_tasks). Loops on import_tasks are refused, as in Ansible.
// Errors are collected into ctx.errors (all of them, with positions), not thrown.
import { dirname, resolve } from 'node:path';
import { ConfigError, ConfigErrors } from '../errors.js';
import { configErrorAt, posAt, readYamlSource, type DataPath, type YamlSource } from '../yaml/source.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { compileSchema, typeName, validateSource } from '../yaml/validate.js';
import { FREE_FORM_MODULES, HANDLER_ONLY, INCLUDE_KEYS, TASK_KEYWORDS, taskKeywordSchema } from './schema.js';
import type { Task } from './types.js';

const validateKeywords = compileSchema(taskKeywordSchema);

export interface TaskListContext {
  modules: ReadonlySet<string>;
  /** The args validator of a module, when the registry has one. */
  argsValidator?: (module: string) => ValidateFunction | undefined;
  errors: ConfigError[];
  handlers: boolean;
  role?: string;
  roleDir?: string;
  /** Files being included, outermost first: a cycle is an error, not a hang. */
  stack: string[];
  /** when/tags inherited from enclosing includes. */
  when: string[];
  tags: string[];
}

/** Where a task's notify list sits, to point at a notify that names no handler. */
export const notifyOrigin = new WeakMap<Task, { src: YamlSource; path: DataPath }>();

const asList = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);
const condList = (v: unknown): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x) => String(x)));

export function parseTaskList(src: YamlSource, path: DataPath, list: unknown, ctx: TaskListContext): Task[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) {
    ctx.errors.push(configErrorAt(src, path, `wrong type: got ${typeName(list)}`, 'a list of tasks'));
    return [];
  }
  const out: Task[] = [];
  list.forEach((item, i) => {
    const at: DataPath = [...path, i];
    if (!item || typeof item !== 'object' || Array.isArray(item)) {
      ctx.errors.push(configErrorAt(src, at, `wrong type: got ${typeName(item)}`, 'a task: a mapping with one module key'));
      return;
    }
    const raw = item as Record<string, unknown>;
    const include = Object.keys(raw).find((k) => INCLUDE_KEYS.has(k));
    if (include) out.push(...expandInclude(src, at, raw, include, ctx));
    else {
      const task = parseTask(src, at, raw, ctx);
      if (task) out.push(task);
    }
  });
  return out;
}

function parseTask(src: YamlSource, at: DataPath, raw: Record<string, unknown>, ctx: TaskListContext): Task | null {
  const errs = ctx.errors;
  const before = errs.length;
  const keywords: Record<string, unknown> = {};
  const moduleKeys: string[] = [];
  for (const [k, v] of Object.entries(raw)) {
    if (TASK_KEYWORDS.has(k)) {
      if (HANDLER_ONLY.has(k) && !ctx.handlers) errs.push(configErrorAt(src, [...at, k], `'${k}' is only allowed on handlers`, 'a task keyword', 'key'));
      else keywords[k] = v;
    } else if (ctx.modules.has(k)) moduleKeys.push(k);
    else {
      errs.push(
        configErrorAt(src, [...at, k], `unknown keyword or module '${k}'`, `a task keyword (${[...TASK_KEYWORDS].join(', ')}) or a module (${[...ctx.modules].join(', ')})`, 'key'),
      );
    }
  }
  errs.push(...validateSource(src, validateKeywords, keywords, at));
  if (moduleKeys.length > 1) {
    errs.push(configErrorAt(src, [...at, moduleKeys[1]], `second module '${moduleKeys[1]}' in one task (already '${moduleKeys[0]}')`, 'exactly one module per task', 'key'));
  }
  if (!moduleKeys.length && errs.length === before) {
    errs.push(configErrorAt(src, at, 'task has no module', `one module key: ${[...ctx.modules].join(', ')}`));
  }
  if (errs.length !== before || !moduleKeys.length) return null;

  const module = moduleKeys[0];
  const args = readArgs(src, [...at, module], module, raw[module], errs);
  if (!args) return null;
  const validateArgs = ctx.argsValidator?.(module);
  if (validateArgs) {
    // A free-form string became {cmd}: its errors fall back to the string's own position.
    const argErrors = validateSource(src, validateArgs, args, [...at, module], isTemplated);
    if (argErrors.length) {
      errs.push(...argErrors);
      return null;
    }
  }
  const when = [...ctx.when, ...condList(keywords.when)];
  const task: Task = {
    name: (keywords.name as string | undefined) ?? module,
    module,
    args,
    tags: [...new Set([...ctx.tags, ...asList(keywords.tags)])],
    notify: asList(keywords.notify),
    run_once: (keywords.run_once as boolean | undefined) ?? false,
    no_log: (keywords.no_log as boolean | undefined) ?? false,
    pos: posAt(src, at),
  };
  if (when.length) task.when = when.length === 1 ? when[0] : when;
  for (const k of ['register', 'loop', 'delegate_to', 'retries', 'until', 'delay', 'check_mode'] as const) {
    if (keywords[k] !== undefined) (task as unknown as Record<string, unknown>)[k] = keywords[k];
  }
  for (const k of ['changed_when', 'failed_when'] as const) {
    const v = keywords[k];
    if (v !== undefined) task[k] = typeof v === 'boolean' ? v : condList(v).map((c) => `(${c})`).join(' and ');
  }
  if (ctx.handlers) task.listen = asList(keywords.listen);
  if (ctx.role) task.role = ctx.role;
  if (ctx.roleDir) task.roleDir = ctx.roleDir;
  if (task.notify.length) notifyOrigin.set(task, { src, path: [...at, 'notify'] });
  return task;
}

/** A value still holding {{ }} or {% %} is checked by the module after rendering, not here. */
function isTemplated(e: ErrorObject): boolean {
  return typeof e.data === 'string' && /\{\{|\{%/.test(e.data);
}

function readArgs(src: YamlSource, at: DataPath, module: string, v: unknown, errs: ConfigError[]): Record<string, unknown> | null {
  if (v === null || v === undefined) return {};
  if (typeof v === 'string' && FREE_FORM_MODULES.has(module)) return { cmd: v };
  if (typeof v === 'object' && !Array.isArray(v)) return { ...(v as Record<string, unknown>) };
  errs.push(configErrorAt(src, at, `wrong type for ${module} arguments: got ${typeName(v)}`, FREE_FORM_MODULES.has(module) ? 'a mapping of arguments or a command string' : 'a mapping of arguments'));
  return null;
}

function expandInclude(src: YamlSource, at: DataPath, raw: Record<string, unknown>, key: string, ctx: TaskListContext): Task[] {
  const looped = raw.loop !== undefined;
  const allowed = key === 'include_tasks' ? ['name', 'when', 'tags', 'loop', 'loop_control'] : ['name', 'when', 'tags'];
  for (const k of Object.keys(raw)) {
    if (k === 'loop' && ctx.handlers) {
      ctx.errors.push(configErrorAt(src, [...at, k], `a loop on ${key} in handlers is not supported`, 'a loop in the play\'s tasks', 'key'));
    } else if (k === 'loop' && key === 'import_tasks') {
      ctx.errors.push(configErrorAt(src, [...at, k], 'loops are not allowed on import_tasks (it is expanded at load time)', 'include_tasks for a loop', 'key'));
    } else if (k === 'loop_control' && !looped) {
      ctx.errors.push(configErrorAt(src, [...at, k], 'loop_control without loop', 'a loop on the same include_tasks', 'key'));
    } else if (k !== key && !allowed.includes(k)) {
      ctx.errors.push(configErrorAt(src, [...at, k], `'${k}' is not allowed on ${key}`, `only ${allowed.join(', ')}`, 'key'));
    }
  }
  const loopVar = looped ? readLoopVar(src, at, raw.loop_control, ctx) : 'item';
  if (looped && !(Array.isArray(raw.loop) || typeof raw.loop === 'string')) {
    ctx.errors.push(configErrorAt(src, [...at, 'loop'], `wrong type: got ${typeName(raw.loop)}`, "a list, or a Jinja expression giving one ('{{ nodes }}')"));
    return [];
  }
  const rel = raw[key];
  if (typeof rel !== 'string' || !rel) {
    ctx.errors.push(configErrorAt(src, [...at, key], `wrong type: got ${typeName(rel)}`, 'a task file path relative to this file'));
    return [];
  }
  const file = resolve(dirname(src.file), rel);
  if (ctx.stack.includes(file)) {
    ctx.errors.push(configErrorAt(src, [...at, key], `include cycle: ${[...ctx.stack, file].join(' -> ')}`, 'includes that do not include themselves'));
    return [];
  }
  let inc: YamlSource;
  try {
    inc = readYamlSource(file);
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    // A missing file is reported where it is named; syntax errors where they are.
    const missing = err.errors.length === 1 && err.errors[0].problem === 'file not found';
    ctx.errors.push(...(missing ? [configErrorAt(src, [...at, key], `included file not found: ${file}`, 'an existing task file')] : err.errors));
    return [];
  }
  const own = { tags: [...ctx.tags, ...asList(raw.tags)], when: [...ctx.when, ...condList(raw.when)] };
  // import_tasks: the file's tasks in place, each with the import's when and tags.
  if (key === 'import_tasks') return parseTaskList(inc, [], inc.data, { ...ctx, stack: [...ctx.stack, file], ...own });
  // include_tasks: the include's own when and tags are the include's alone; its
  // tasks keep only what they inherit from around the include (a play's or an
  // import's), as in Ansible (where `apply` would hand them on: refused above).
  const tasks = parseTaskList(inc, [], inc.data, { ...ctx, stack: [...ctx.stack, file] });
  const when = own.when;
  const task: Task = {
    name: typeof raw.name === 'string' ? raw.name : `include_tasks ${rel}`,
    module: 'include_tasks',
    args: {},
    ...(looped ? { loop: raw.loop } : {}),
    tags: own.tags,
    notify: [],
    run_once: false,
    no_log: false,
    include: { file, tasks, ...(looped ? { loopVar } : {}) },
    pos: posAt(src, at),
  };
  if (when.length) task.when = when.length === 1 ? when[0] : when;
  if (ctx.role) task.role = ctx.role;
  return [task];
}

/** loop_control: only loop_var is supported (a variable name); anything else is refused where it is. */
function readLoopVar(src: YamlSource, at: DataPath, lc: unknown, ctx: TaskListContext): string {
  if (lc === undefined) return 'item';
  if (!lc || typeof lc !== 'object' || Array.isArray(lc)) {
    ctx.errors.push(configErrorAt(src, [...at, 'loop_control'], `wrong type: got ${typeName(lc)}`, 'a mapping with loop_var'));
    return 'item';
  }
  let name = 'item';
  for (const [k, v] of Object.entries(lc)) {
    if (k !== 'loop_var') ctx.errors.push(configErrorAt(src, [...at, 'loop_control', k], `loop_control '${k}' is not supported`, 'loop_var only', 'key'));
    else if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) ctx.errors.push(configErrorAt(src, [...at, 'loop_control', k], `wrong value: ${JSON.stringify(v)}`, 'a variable name: letters, digits and _'));
    else name = v;
  }
  return name;
}
