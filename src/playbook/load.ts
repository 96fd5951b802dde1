// Loads and validates a playbook: playbooks/<name>.yaml, a list of plays.
//
// Public API:
//   loadPlaybook(nameOrFile, { projectDir, modules? }) -> Playbook
//     nameOrFile: 'bringup' (-> <projectDir>/playbooks/bringup.yaml) or a path
//     to a .yaml/.yml file. modules: the module names tasks may use (default:
//     the registry in src/modules/index.ts).
//     Throws PlaybookNotFoundError, or ConfigErrors listing every problem
//     (unknown keyword or module, wrong type, missing role, notify naming no
//     handler, ...) each with file:line:col.
//   checkPlayHosts(playbook, inventory) (load-hosts.ts): hosts patterns that
//     match nothing, reported at the play's `hosts:` line.
//
// Each play's tasks are its roles' tasks (in order) then its own; handlers
// likewise; roleDefaults holds the roles' defaults.yaml merged.
import { existsSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { UnibusError, type ConfigError } from '../errors.js';
import type { ValidateFunction } from 'ajv';
import { argsValidator as moduleArgsValidator } from '../modules/define.js';
import { getModule, hasModule, moduleNames } from '../modules/index.js';
import { configErrorAt, posAt, readYamlSource, throwIfErrors, type DataPath, type YamlSource } from '../yaml/source.js';
import { compileSchema, typeName, validateSource } from '../yaml/validate.js';
import { notifyOrigin, parseTaskList, type TaskListContext } from './load-tasks.js';
import { hostsOrigin } from './load-hosts.js';
import { loadRole } from './roles.js';
import { playSchema } from './schema.js';
import { flatTasks } from './tags.js';
import type { Play, Playbook, Task } from './types.js';

export class PlaybookNotFoundError extends UnibusError {}

export interface LoadPlaybookOptions {
  /**
   * The project folder holding playbooks/ and roles/. Default: for a name, the
   * current directory; for a path, the folder above playbooks/ (or the file's folder).
   */
  projectDir?: string;
  /** Module names allowed in tasks (default: every registered module). */
  modules?: Iterable<string>;
  /** Check each task's args against its module's JSON Schema (default true; templated values are left to the module). */
  validateArgs?: boolean;
}

// The executor checks rendered args with this same validator (modules/define.ts).
function argsValidator(module: string): ValidateFunction | undefined {
  return hasModule(module) ? moduleArgsValidator(getModule(module)) : undefined;
}

const validatePlay = compileSchema(playSchema);

export function findPlaybookFile(nameOrFile: string, projectDir: string): string {
  const tried: string[] = [];
  if (/\.ya?ml$/.test(nameOrFile) || nameOrFile.includes('/')) {
    const f = resolve(nameOrFile);
    if (existsSync(f)) return f;
    tried.push(f);
  } else {
    for (const ext of ['.yaml', '.yml']) {
      const f = resolve(projectDir, 'playbooks', nameOrFile + ext);
      if (existsSync(f)) return f;
      tried.push(f);
    }
  }
  throw new PlaybookNotFoundError(`playbook '${nameOrFile}' not found (looked for ${tried.join(', ')})`);
}

export function loadPlaybook(nameOrFile: string, opts: LoadPlaybookOptions = {}): Playbook {
  const file = findPlaybookFile(nameOrFile, resolve(opts.projectDir ?? '.'));
  // Given only a path, the project is the folder above playbooks/ (where roles/ lives).
  const projectDir = opts.projectDir ? resolve(opts.projectDir) : basename(dirname(file)) === 'playbooks' ? dirname(dirname(file)) : dirname(file);
  const src = readYamlSource(file);
  const modules = new Set(opts.modules ?? moduleNames);
  const validateArgs = opts.validateArgs === false ? undefined : argsValidator;
  const errors: ConfigError[] = [];
  const plays: Play[] = [];
  if (!Array.isArray(src.data)) {
    errors.push(configErrorAt(src, [], `wrong type: got ${typeName(src.data)}`, 'a list of plays'));
  } else if (!src.data.length) {
    errors.push(configErrorAt(src, [], 'no plays', 'a list of at least one play'));
  } else {
    src.data.forEach((raw, i) => {
      const play = loadPlay(src, [i], raw, projectDir, { modules, argsValidator: validateArgs }, errors);
      if (play) plays.push(play);
    });
  }
  throwIfErrors(errors);
  return { file, name: basename(file, extname(file)), plays };
}

function loadPlay(
  src: YamlSource,
  at: DataPath,
  raw: unknown,
  projectDir: string,
  reg: Pick<TaskListContext, 'modules' | 'argsValidator'>,
  errors: ConfigError[],
): Play | null {
  const playErrors = validateSource(src, validatePlay, raw, at);
  if (playErrors.length) {
    errors.push(...playErrors);
    return null;
  }
  const p = raw as Record<string, unknown>;
  const base = { ...reg, errors, stack: [src.file], when: [] as string[], tags: toList(p.tags) };
  const tasks: Task[] = [];
  const handlers: Task[] = [];
  const roleDefaults: Record<string, unknown> = {};
  const roles = (p.roles as string[] | undefined) ?? [];
  roles.forEach((name, r) => {
    const role = loadRole(projectDir, name, base, { src, path: [...at, 'roles', r] });
    if (!role) return;
    tasks.push(...role.tasks);
    handlers.push(...role.handlers);
    Object.assign(roleDefaults, role.defaults);
  });
  tasks.push(...parseTaskList(src, [...at, 'tasks'], p.tasks, { ...base, handlers: false }));
  handlers.push(...parseTaskList(src, [...at, 'handlers'], p.handlers, { ...base, handlers: true }));
  if (!tasks.length && !errors.length) errors.push(configErrorAt(src, at, 'play has no tasks', 'tasks or roles with tasks'));
  checkNotify([...flatTasks(tasks), ...handlers], handlers, errors);

  const hosts = toList(p.hosts);
  const play: Play = {
    name: (p.name as string | undefined) ?? hosts.join(','),
    hosts,
    vars: (p.vars as Record<string, unknown> | undefined) ?? {},
    roles,
    tasks,
    handlers,
    roleDefaults,
    pos: posAt(src, at),
  };
  if (p.serial !== undefined) play.serial = p.serial as number | string;
  if (p.any_errors_fatal !== undefined) play.any_errors_fatal = p.any_errors_fatal as boolean;
  hostsOrigin.set(play, posAt(src, [...at, 'hosts']));
  return play;
}

/** A notify that names no handler (by name or listen topic) would silently never restart anything. */
function checkNotify(tasks: Task[], handlers: Task[], errors: ConfigError[]): void {
  const known = new Set(handlers.flatMap((h) => [h.name, ...(h.listen ?? [])]));
  for (const t of tasks) {
    const origin = notifyOrigin.get(t);
    t.notify.forEach((n, k) => {
      if (known.has(n) || !origin) return;
      const path = Array.isArray(originValue(origin.src, origin.path)) ? [...origin.path, k] : origin.path;
      const names = [...known];
      errors.push(configErrorAt(origin.src, path, `notify '${n}' names no handler`, names.length ? `one of: ${names.join(', ')}` : 'a handler of this play (none are defined)'));
    });
  }
}

function originValue(src: YamlSource, path: DataPath): unknown {
  let v: unknown = src.data;
  for (const p of path) v = (v as Record<string | number, unknown> | undefined)?.[p];
  return v;
}

function toList(v: unknown): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];
}
