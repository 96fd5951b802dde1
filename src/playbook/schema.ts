// JSON Schemas of playbooks: the play mapping and a task's keywords. A task's
// module key is not in the schema (modules come from the registry); load.ts
// splits a task mapping into its keywords (validated here) and its one module.

const strOrList = (what: string) => ({
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
  description: `a string or a list of strings (${what})`,
});
const condition = (what: string) => ({
  anyOf: [{ type: 'string' }, { type: 'boolean' }, { type: 'array', items: { type: ['string', 'boolean'] } }],
  description: `a Jinja expression, a boolean, or a list of them (${what})`,
});

export const playSchema = {
  type: 'object',
  description: 'a play: a mapping with hosts and tasks or roles',
  additionalProperties: false,
  required: ['hosts'],
  properties: {
    name: { type: 'string', description: 'a play name' },
    hosts: strOrList("host patterns: 'all', a role, a node name, '!name'"),
    serial: {
      anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^[0-9]{1,3}%$' }],
      description: "a batch size: a positive integer or a percentage like '50%'",
    },
    any_errors_fatal: { type: 'boolean', description: 'true or false' },
    vars: { type: 'object', description: 'a mapping of variables' },
    roles: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$', description: 'a role name (a folder under roles/)' }, description: 'a list of role names' },
    tags: strOrList('tags applied to every task of the play'),
    tasks: { type: 'array', description: 'a list of tasks' },
    handlers: { type: 'array', description: 'a list of handlers' },
  },
} as const;

/** Task keywords; every other key of a task mapping must be a module name. */
export const taskKeywordProps = {
  name: { type: 'string', description: 'a task name' },
  when: condition('run the task only when it holds'),
  tags: strOrList('tags'),
  notify: strOrList('handler names or listen topics'),
  register: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'a variable name: letters, digits and _' },
  loop: {
    anyOf: [{ type: 'array' }, { type: 'string' }],
    description: "a list, or a Jinja expression giving one ('{{ nodes }}')",
  },
  run_once: { type: 'boolean', description: 'true or false' },
  delegate_to: { enum: ['controller'], description: "'controller' (the machine running unibus)" },
  retries: { type: 'integer', minimum: 0, description: 'a count of retries (integer >= 0)' },
  until: { type: 'string', description: 'a Jinja expression' },
  delay: { type: 'number', minimum: 0, description: 'seconds between retries (>= 0)' },
  no_log: { type: 'boolean', description: 'true or false' },
  changed_when: condition('overrides changed'),
  failed_when: condition('overrides failed'),
  check_mode: { type: 'boolean', description: 'true (always runs in check mode) or false (never runs in check mode)' },
  listen: strOrList('topics this handler also answers to'),
} as const;

export const TASK_KEYWORDS = new Set(Object.keys(taskKeywordProps));
/** Keywords that only a handler may carry. */
export const HANDLER_ONLY = new Set(['listen']);
/** Static includes, expanded at load time; they may carry name, when and tags only. */
export const INCLUDE_KEYS = new Set(['include_tasks', 'import_tasks']);

export const taskKeywordSchema = {
  type: 'object',
  additionalProperties: false,
  properties: taskKeywordProps,
} as const;

/** Modules whose args may be a free-form string: it becomes `{cmd: string}`. */
export const FREE_FORM_MODULES = new Set(['command', 'shell']);
