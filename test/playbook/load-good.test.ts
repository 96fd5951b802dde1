// A valid project loads into the shapes the executor runs: roles first, then
// the play's tasks; include_tasks as one task holding the file's tasks (its
// when/tags its own); handlers with listen.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigErrors } from '../../src/errors.js';
import { loadInventory } from '../../src/inventory/load.js';
import { checkPlayHosts } from '../../src/playbook/load-hosts.js';
import { PlaybookNotFoundError, loadPlaybook } from '../../src/playbook/load.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-pb-good-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const files: Record<string, string> = {
  'playbooks/site.yaml': `# a two-play playbook
- name: stage
  hosts: [all, '!n3']
  serial: 1
  tags: deploy
  vars:
    unit: membershipd
  roles: [web]
  tasks:
    - name: say hi
      command: echo hi
      register: hi
      changed_when: false
      notify: web changed
    - include_tasks: ../tasks/common.yaml
      when: unit is defined
      tags: [common]
  handlers:
    - name: restart web
      shell: echo restart
      listen: web changed
- hosts: n3
  tasks:
    - shell:
        cmd: uptime
      loop: [1, 2]
      retries: 3
      until: result.rc == 0
      delay: 1
      delegate_to: controller
      run_once: true
      no_log: true
      check_mode: false
      failed_when: [result.rc > 1, "'error' in result.stdout"]
`,
  'tasks/common.yaml': `- name: ensure dir
  file: {path: /tmp/x, state: directory, mode: "{{ dir_mode }}", owner: "{{ 7 }}"}
  when: "{{ true }}"
  tags: inner
`,
  'roles/web/tasks.yaml': `- name: render
  template:
    src: web.conf.j2
    dest: /etc/web.conf
  notify: restart web
`,
  'roles/web/handlers.yaml': `- name: reload web
  command: echo reload
`,
  'roles/web/defaults.yaml': 'web_port: 8080\nunit: default-unit\n',
  'roles/web/templates/web.conf.j2': 'port={{ web_port }}\n',
};
for (const [rel, text] of Object.entries(files)) {
  mkdirSync(dirname(join(dir, rel)), { recursive: true });
  writeFileSync(join(dir, rel), text);
}

test('a playbook with a role, an include and handlers loads in execution order', () => {
  const pb = loadPlaybook('site', { projectDir: dir });
  assert.equal(pb.name, 'site');
  assert.equal(pb.file, join(dir, 'playbooks/site.yaml'));
  assert.equal(pb.plays.length, 2);
  const [stage, second] = pb.plays;
  assert.equal(stage.name, 'stage');
  assert.deepEqual(stage.hosts, ['all', '!n3']);
  assert.equal(stage.serial, 1);
  assert.deepEqual(stage.vars, { unit: 'membershipd' });
  assert.deepEqual(stage.roleDefaults, { web_port: 8080, unit: 'default-unit' });
  assert.deepEqual(stage.tasks.map((t) => [t.name, t.module, t.role ?? null]), [
    ['render', 'template', 'web'],
    ['say hi', 'command', null],
    ['include_tasks ../tasks/common.yaml', 'include_tasks', null],
  ]);
  const [render, hi, inc] = stage.tasks;
  assert.equal(inc.include?.file, join(dir, 'tasks/common.yaml'));
  assert.equal(inc.include?.loopVar, undefined, 'no loop: included once');
  const [ensure] = inc.include!.tasks;
  assert.equal(render.roleDir, join(dir, 'roles/web'));
  assert.deepEqual(render.args, { src: 'web.conf.j2', dest: '/etc/web.conf' });
  assert.deepEqual(render.pos, { file: join(dir, 'roles/web/tasks.yaml'), line: 1, col: 3 });
  assert.deepEqual(render.tags, ['deploy']);
  assert.deepEqual(hi.args, { cmd: 'echo hi' });
  assert.equal(hi.register, 'hi');
  assert.equal(hi.changed_when, false);
  assert.deepEqual(hi.notify, ['web changed']);
  assert.deepEqual(hi.pos, { file: pb.file, line: 10, col: 7 });
  // include_tasks (dynamic): its when and tags are its own; the included task
  // keeps the play's tags and its own, and its own when (as in Ansible)
  assert.equal(inc.when, 'unit is defined');
  assert.deepEqual(inc.tags, ['deploy', 'common']);
  assert.equal(ensure.when, '{{ true }}');
  assert.deepEqual(ensure.tags, ['deploy', 'inner']);
  assert.equal(ensure.pos.file, join(dir, 'tasks/common.yaml'));
  // templated args are left for the module to check after rendering
  assert.deepEqual(ensure.args, { path: '/tmp/x', state: 'directory', mode: '{{ dir_mode }}', owner: '{{ 7 }}' });
  assert.deepEqual(stage.handlers.map((h) => [h.name, h.listen, h.role ?? null]), [
    ['reload web', [], 'web'],
    ['restart web', ['web changed'], null],
  ]);

  const [t] = second.tasks;
  assert.equal(second.name, 'n3');
  assert.deepEqual(t.args, { cmd: 'uptime' });
  assert.deepEqual(t.loop, [1, 2]);
  assert.equal(t.retries, 3);
  assert.equal(t.until, 'result.rc == 0');
  assert.equal(t.delay, 1);
  assert.equal(t.delegate_to, 'controller');
  assert.equal(t.run_once, true);
  assert.equal(t.no_log, true);
  assert.equal(t.check_mode, false);
  assert.equal(t.failed_when, "(result.rc > 1) and ('error' in result.stdout)");
  assert.equal(t.name, 'shell');
});

test('a playbook is found by name or by path; a missing one names where it looked', () => {
  const byPath = loadPlaybook(join(dir, 'playbooks/site.yaml'));
  assert.equal(byPath.plays.length, 2);
  assert.throws(
    () => loadPlaybook('bringup', { projectDir: dir }),
    (e: unknown) => e instanceof PlaybookNotFoundError && (e as Error).message.includes(join(dir, 'playbooks/bringup.yaml')),
  );
});

test('the module registry decides what a task may use', () => {
  // The default list comes from src/modules/index.ts; an explicit list replaces it.
  const errors = (() => {
    try {
      loadPlaybook('site', { projectDir: dir, modules: ['command', 'shell', 'file'] });
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  })();
  assert.match(errors, /roles\/web\/tasks\.yaml:2:3: \[0\]\.template: unknown keyword or module 'template'/);
});

test('checkPlayHosts: a hosts pattern naming no node or role is reported at its line', () => {
  const inv = loadInventory('/virtual/inv.yaml', 'cluster:\n  name: t\nnodes:\n  - name: n1\n    public_ip: 10.0.0.1\n  - name: n3\n    public_ip: 10.0.0.3\n');
  const pb = loadPlaybook('site', { projectDir: dir });
  checkPlayHosts(pb, inv); // all, '!n3' and n3 all exist
  const typo = join(dir, 'playbooks/typo.yaml');
  writeFileSync(typo, '- hosts: all\n  tasks: [{command: echo}]\n- name: second\n  hosts: [n1, webservers]\n  tasks: [{command: echo}]\n');
  assert.throws(
    () => checkPlayHosts(loadPlaybook('typo', { projectDir: dir }), inv),
    (e: unknown) =>
      e instanceof ConfigErrors &&
      e.errors.length === 1 &&
      e.errors[0].message.startsWith(`${typo}:4:10: [1].hosts: host pattern 'webservers' matches no node or role in /virtual/inv.yaml (expected 'all', a node (n1, n3) or a role (node))`),
  );
});
