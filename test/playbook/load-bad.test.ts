// Bad playbooks and roles: each must be refused with the right message at its exact file:line:col.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { loadPlaybook } from '../../src/playbook/load.js';
import { assertConfigError, catchConfigErrors, type Expected } from '../fixtures/expect-config.js';

const MODULES = ['command', 'shell', 'copy', 'template', 'file', 'service', 'assert', 'set_fact'];
const base = mkdtempSync(join(tmpdir(), 'unibus-pb-bad-'));
after(() => rmSync(base, { recursive: true, force: true }));

let n = 0;
/** A fresh project folder with these files; returns its path. */
function project(files: Record<string, string>): string {
  const dir = join(base, `p${n++}`);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

interface Case {
  name: string;
  files: Record<string, string>;
  /** File (relative to the project) and expected error. */
  want: [string, Expected][];
}

const PB = 'playbooks/site.yaml';
const cases: Case[] = [
  { name: 'a playbook that is not a list', files: { [PB]: 'hosts: all\ntasks: []\n' }, want: [[PB, { line: 1, col: 1, msg: 'wrong type: got mapping (expected a list of plays)' }]] },
  { name: 'an empty playbook', files: { [PB]: '[]\n' }, want: [[PB, { line: 1, col: 1, msg: 'no plays' }]] },
  {
    name: 'unknown play key',
    files: { [PB]: '- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo\n' },
    want: [[PB, { line: 2, col: 3, msg: "unknown key 'gather_facts' (expected one of: name, hosts, serial, any_errors_fatal, vars, roles, tags, tasks, handlers)", path: '[0].gather_facts' }]],
  },
  {
    name: 'a play without hosts',
    files: { [PB]: '- name: nowhere\n  tasks:\n    - command: echo\n' },
    want: [[PB, { line: 1, col: 3, msg: "missing required field 'hosts'" }]],
  },
  {
    name: 'unknown task keyword',
    files: { [PB]: '- hosts: all\n  tasks:\n    - name: x\n      command: echo hi\n      become: true\n' },
    want: [[PB, { line: 5, col: 7, msg: "unknown keyword or module 'become' (expected a task keyword (name, when", path: '[0].tasks[0].become' }]],
  },
  {
    name: 'unknown module',
    files: { [PB]: '- hosts: all\n  tasks:\n    - name: install\n      apt: {name: nats-server}\n' },
    want: [[PB, { line: 4, col: 7, msg: "unknown keyword or module 'apt'" }]],
  },
  {
    name: 'two modules in one task',
    files: { [PB]: '- hosts: all\n  tasks:\n    - command: echo a\n      shell: echo b\n' },
    want: [[PB, { line: 4, col: 7, msg: "second module 'shell' in one task (already 'command') (expected exactly one module per task)" }]],
  },
  {
    name: 'a task with no module',
    files: { [PB]: '- hosts: all\n  tasks:\n    - name: lonely\n      when: true\n' },
    want: [[PB, { line: 3, col: 7, msg: 'task has no module (expected one module key: command, shell', path: '[0].tasks[0]' }]],
  },
  {
    name: 'a task that is a string',
    files: { [PB]: '- hosts: all\n  tasks:\n    - echo hi\n' },
    want: [[PB, { line: 3, col: 7, msg: 'wrong type: got string "echo hi" (expected a task: a mapping with one module key)' }]],
  },
  {
    name: 'retries of the wrong type',
    files: { [PB]: '- hosts: all\n  tasks:\n    - command: echo\n      retries: many\n' },
    want: [[PB, { line: 4, col: 16, msg: 'wrong type: got string "many" (expected a count of retries (integer >= 0))', path: '[0].tasks[0].retries' }]],
  },
  {
    name: 'delegate_to another host',
    files: { [PB]: '- hosts: all\n  tasks:\n    - command: echo\n      delegate_to: n2\n' },
    want: [[PB, { line: 4, col: 20, msg: 'invalid value "n2" (expected one of: controller)' }]],
  },
  {
    name: 'register with a bad name',
    files: { [PB]: '- hosts: all\n  tasks:\n    - command: echo\n      register: my-result\n' },
    want: [[PB, { line: 4, col: 17, msg: 'invalid value "my-result" (expected a variable name' }]],
  },
  {
    name: 'serial that is neither a count nor a percentage',
    files: { [PB]: '- hosts: all\n  serial: half\n  tasks:\n    - command: echo\n' },
    want: [[PB, { line: 2, col: 11, msg: "wrong type or shape: got string \"half\" (expected a batch size: a positive integer or a percentage like '50%')" }]],
  },
  {
    name: 'any_errors_fatal that is not a boolean',
    files: { [PB]: '- hosts: all\n  any_errors_fatal: sometimes\n  tasks:\n    - command: echo\n' },
    want: [[PB, { line: 2, col: 21, msg: 'wrong type: got string "sometimes" (expected true or false)' }]],
  },
  {
    name: 'when of the wrong shape',
    files: { [PB]: '- hosts: all\n  tasks:\n    - command: echo\n      when: {a: 1}\n' },
    want: [[PB, { line: 4, col: 13, msg: 'wrong type or shape: got mapping (expected a Jinja expression, a boolean, or a list of them' }]],
  },
  {
    name: 'module args of the wrong type',
    files: { [PB]: '- hosts: all\n  tasks:\n    - file: [a, b]\n' },
    want: [[PB, { line: 3, col: 13, msg: 'wrong type for file arguments: got list (expected a mapping of arguments)' }]],
  },
  {
    name: 'notify naming no handler',
    files: { [PB]: '- hosts: all\n  tasks:\n    - command: echo\n      notify: restart nats\n  handlers:\n    - name: restart membershipd\n      command: echo\n' },
    want: [[PB, { line: 4, col: 15, msg: "notify 'restart nats' names no handler (expected one of: restart membershipd)", path: '[0].tasks[0].notify' }]],
  },
  {
    name: 'notify list entry naming no handler (handlers answer to listen too)',
    files: {
      [PB]: '- hosts: all\n  tasks:\n    - command: echo\n      notify:\n        - config changed\n        - restart nats\n  handlers:\n    - name: restart membershipd\n      command: echo\n      listen: config changed\n',
    },
    want: [[PB, { line: 6, col: 11, msg: "notify 'restart nats' names no handler", path: '[0].tasks[0].notify[1]' }]],
  },
  {
    name: 'listen on a task that is not a handler',
    files: { [PB]: '- hosts: all\n  tasks:\n    - command: echo\n      listen: x\n' },
    want: [[PB, { line: 4, col: 7, msg: "'listen' is only allowed on handlers" }]],
  },
  {
    name: 'include_tasks of a missing file',
    files: { [PB]: '- hosts: all\n  tasks:\n    - include_tasks: nope.yaml\n' },
    want: [[PB, { line: 3, col: 22, msg: 'included file not found' }]],
  },
  {
    name: 'a bad task inside an included file is reported in that file',
    files: { [PB]: '- hosts: all\n  tasks:\n    - include_tasks: ../tasks/common.yaml\n', 'tasks/common.yaml': '- command: echo\n- name: two\n  copy: {dest: /x}\n  colour: red\n' },
    want: [['tasks/common.yaml', { line: 4, col: 3, msg: "unknown keyword or module 'colour'" }]],
  },
  {
    name: 'include cycle',
    files: { [PB]: '- hosts: all\n  tasks:\n    - include_tasks: a.yaml\n', 'playbooks/a.yaml': '- include_tasks: b.yaml\n', 'playbooks/b.yaml': '- command: echo\n- include_tasks: a.yaml\n' },
    want: [['playbooks/b.yaml', { line: 2, col: 18, msg: 'include cycle' }]],
  },
  {
    name: 'a role that does not exist',
    files: { [PB]: '- hosts: all\n  roles:\n    - nats\n' },
    want: [[PB, { line: 3, col: 7, msg: "role 'nats' not found", path: '[0].roles[0]' }]],
  },
  {
    name: 'a YAML syntax error in a role file',
    files: { [PB]: '- hosts: all\n  roles: [web]\n', 'roles/web/tasks.yaml': '- name: ok\n  command: echo\n- name: "broken\n' },
    // yaml reports an unclosed quote where the input ends.
    want: [['roles/web/tasks.yaml', { line: 4, col: 1, msg: 'YAML syntax error: Missing closing "quote' }]],
  },
  {
    name: 'a role whose defaults.yaml is not a mapping',
    files: { [PB]: '- hosts: all\n  roles: [web]\n', 'roles/web/tasks.yaml': '- command: echo\n', 'roles/web/defaults.yaml': '- a\n- b\n' },
    want: [['roles/web/defaults.yaml', { line: 1, col: 1, msg: 'wrong type: got list (expected a mapping of variable names to default values)' }]],
  },
  {
    name: "a role task notifying a handler the role's handlers.yaml lacks",
    files: {
      [PB]: '- hosts: all\n  roles: [web]\n',
      'roles/web/tasks.yaml': '- template: {src: a.j2, dest: /etc/a}\n  notify: reload web\n',
      'roles/web/handlers.yaml': '- name: restart web\n  service: {name: web, state: restarted}\n',
    },
    want: [['roles/web/tasks.yaml', { line: 2, col: 11, msg: "notify 'reload web' names no handler (expected one of: restart web)" }]],
  },
  {
    name: 'include_tasks with a keyword it cannot carry',
    files: { [PB]: '- hosts: all\n  tasks:\n    - include_tasks: x.yaml\n      register: r\n', 'playbooks/x.yaml': '- command: echo\n' },
    want: [[PB, { line: 4, col: 7, msg: "'register' is not allowed on include_tasks (expected only name, when, tags, loop, loop_control)" }]],
  },
  {
    name: 'a loop on import_tasks (Ansible refuses it too), and loop_control with a key unibus does not take',
    files: {
      [PB]: '- hosts: all\n  tasks:\n    - import_tasks: x.yaml\n      loop: [1]\n    - include_tasks: x.yaml\n      loop: [1]\n      loop_control: {label: x}\n',
      'playbooks/x.yaml': '- command: echo\n',
    },
    want: [
      [PB, { line: 4, col: 7, msg: 'loops are not allowed on import_tasks (it is expanded at load time) (expected include_tasks for a loop)' }],
      [PB, { line: 7, col: 22, msg: "loop_control 'label' is not supported (expected loop_var only)" }],
    ],
  },
  {
    name: 'loop_control without a loop',
    files: { [PB]: '- hosts: all\n  tasks:\n    - include_tasks: x.yaml\n      loop_control: {loop_var: f}\n', 'playbooks/x.yaml': '- command: echo\n' },
    want: [[PB, { line: 4, col: 7, msg: 'loop_control without loop (expected a loop on the same include_tasks)' }]],
  },
  {
    name: "a module argument the module does not take (checked against the module's schema)",
    files: { [PB]: '- hosts: all\n  tasks:\n    - copy:\n        content: hi\n        dst: /etc/motd\n' },
    want: [
      [PB, { line: 5, col: 9, msg: "unknown key 'dst' (expected one of:", path: '[0].tasks[0].copy.dst' }],
      [PB, { line: 4, col: 9, msg: "missing required field 'dest'", path: '[0].tasks[0].copy.dest' }],
    ],
  },
  {
    name: 'a module argument outside its enum',
    files: { [PB]: '- hosts: all\n  tasks:\n    - file: {path: /srv/x, state: dir}\n' },
    want: [[PB, { line: 3, col: 35, msg: 'invalid value "dir" (expected one of:', path: '[0].tasks[0].file.state' }]],
  },
];

for (const c of cases) {
  test(`playbook refused: ${c.name}`, () => {
    const dir = project(c.files);
    // The module names are fixed here; args are checked against the real registry's schemas.
    const errors = catchConfigErrors(() => loadPlaybook('site', { projectDir: dir, modules: MODULES }));
    for (const [rel, want] of c.want) assertConfigError(errors, join(dir, rel), want);
  });
}
