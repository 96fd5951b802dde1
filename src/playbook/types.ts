import type { SourcePos } from '../errors.js';

/** A task as loaded from YAML (a play's tasks, a role's tasks.yaml or handlers.yaml). */
export interface Task {
  /** Display name; defaults to `module` when absent. */
  name: string;
  module: string;
  /** Module arguments, still unrendered (strings may hold {{ }} expressions). */
  args: Record<string, unknown>;
  when?: string | string[];
  tags: string[];
  notify: string[];
  register?: string;
  loop?: unknown;
  run_once: boolean;
  /** Only 'controller' (localhost on the machine running unibus) is supported. */
  delegate_to?: 'controller';
  retries?: number;
  until?: string;
  delay?: number;
  no_log: boolean;
  changed_when?: string | boolean;
  failed_when?: string | boolean;
  /** true: always runs in check mode; false: never runs in check mode (skipped, reported). */
  check_mode?: boolean;
  /** Handlers only: the name notify refers to (defaults to `name`), and listen aliases. */
  listen?: string[];
  /** Which role the task came from, if any. */
  role?: string;
  /** For template/copy src lookups: the role's folder, if any. */
  roleDir?: string;
  /**
   * `include_tasks`: the included file's tasks, run when the include is
   * reached, once, or with `loop` once per item with `loopVar` bound to it
   * (module is 'include_tasks', args empty).
   */
  include?: { file: string; tasks: Task[]; loopVar?: string };
  pos: SourcePos;
}

export interface Play {
  name: string;
  /** Host pattern: 'all', a role name, a node name, or a list of them. */
  hosts: string[];
  /** Batch size (number or percentage string like '50%'); absent: all at once. */
  serial?: number | string;
  /** Ansible's any_errors_fatal (play level): one host's failure ends the play for all. */
  any_errors_fatal?: boolean;
  vars: Record<string, unknown>;
  roles: string[];
  /** Role tasks first (in role order), then the play's own tasks. */
  tasks: Task[];
  handlers: Task[];
  /** The play's roles' defaults.yaml merged (later roles win): the lowest variable precedence. */
  roleDefaults?: Record<string, unknown>;
  pos: SourcePos;
}

export interface Playbook {
  file: string;
  name: string;
  plays: Play[];
}
