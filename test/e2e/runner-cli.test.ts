// `unibus play` as a user meets it, on a local node in a temp folder: help,
// exit codes for bad input and a held lock, plain output without a TTY.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { play } from '../harness/play.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'playbooks'));
const inv = join(dir, 'inventory.yaml');
writeFileSync(inv, `cluster:\n  name: cli\n  state_dir: ${dir}/state\ndefaults:\n  connection: local\nnodes:\n  - name: l1\n    public_ip: 127.0.0.41\n`);
writeFileSync(
  join(dir, 'playbooks', 'ok.yaml'),
  `- name: files\n  hosts: all\n  tasks:\n    - name: folder first\n      file: { path: "${dir}/out", state: directory }\n      tags: [never, setup]\n    - name: a file\n      copy: { dest: "${dir}/out/{{ inventory_hostname }}.txt", content: "x\\n" }\n`,
);
writeFileSync(join(dir, 'playbooks', 'bad.yaml'), `- name: bad\n  hosts: all\n  tasks:\n    - name: typo\n      copyy: { dest: /tmp/x }\n`);

test('--help documents the exit codes', async () => {
  const r = await play(['--help']);
  assert.equal(r.code, 0);
  for (const code of ['0', '2', '3', '4', '5']) assert.match(r.stdout, new RegExp(`^  ${code} `, 'm'));
});

test('bad input exits 4 with file:line:col; an unknown playbook too', async () => {
  const bad = await play(['bad', '-i', inv]);
  assert.equal(bad.code, 4);
  assert.match(bad.stderr, new RegExp(`${dir}/playbooks/bad.yaml:5:7: .*copyy`));
  const missing = await play(['nope', '-i', inv]);
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, /nope/);
  const badFlag = await play(['ok', '-i', inv, '--forks', 'zero']);
  assert.equal(badFlag.code, 4);
});

test('a failing task exits 2 with the PLAY RECAP; plain lines without a TTY', async () => {
  const r = await play(['ok', '-i', inv]);
  assert.equal(r.code, 2, r.stdout + r.stderr); // the folder task is tagged never: the copy has no folder
  assert.match(r.stdout, /^failed: \[l1\] => /m);
  assert.match(r.stdout, /^l1 : ok=0 {2}changed=0 {2}unreachable=0 {2}failed=1 {2}skipped=0$/m);
  assert.ok(!r.stdout.includes('\x1b['));
  const fixed = await play(['ok', '-i', inv, '--tags', 'setup,untagged']);
  assert.equal(fixed.code, 0, fixed.stdout);
  assert.equal(readFileSync(join(dir, 'out', 'l1.txt'), 'utf8'), 'x\n');
});

test('a lease held by another controller exits 5 and names it; check mode refuses too', async () => {
  const state = join(dir, 'state', 'l1');
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, 'lock.json'), JSON.stringify({ owner: 'ops@elsewhere', pid: 4242, playbook: 'bringup', started: new Date().toISOString(), token: 't-1', ttl_s: 60 }));
  const r = await play(['ok', '-i', inv]);
  assert.equal(r.code, 5);
  assert.match(r.stderr, /deploy lock held by ops@elsewhere \(pid 4242, playbook bringup/);
  const c = await play(['ok', '-i', inv, '--check']);
  assert.equal(c.code, 5);
  assert.ok(existsSync(join(state, 'lock.json')), 'the other lease is untouched');
  rmSync(join(state, 'lock.json'));
});

test('a lease left by a killed run of this controller: the run takes it over, and check mode judges alike, with the same warning', async () => {
  const { spawnSync } = await import('node:child_process');
  const { hostname, userInfo } = await import('node:os');
  const state = join(dir, 'state', 'l1');
  const lock = join(state, 'lock.json');
  mkdirSync(state, { recursive: true });
  const dead = spawnSync('true').pid; // a pid that has exited, as a SIGKILLed run's
  writeFileSync(lock, JSON.stringify({ owner: `${userInfo().username}@${hostname()}`, pid: dead, playbook: 'ok', started: new Date().toISOString(), token: 't-killed', ttl_s: 60 }));
  const args = ['ok', '-i', inv, '--tags', 'setup,untagged'];
  const c = await play([...args, '--check']);
  assert.equal(c.code, 0, c.stdout + c.stderr);
  assert.match(c.stderr, new RegExp(`^\\[WARNING\\]: l1: a run would take over a stale deploy lock \\(last heartbeat \\d+s ago, held by .* pid ${dead} playbook ok\\)$`, 'm'));
  assert.equal(JSON.parse(readFileSync(lock, 'utf8')).token, 't-killed', 'check mode took nothing');
  const j = await play([...args, '--check', '--json']);
  assert.equal(j.code, 0, j.stderr);
  assert.ok(j.events.some((e) => e.event === 'warning' && e.host === 'l1' && /would take over a stale deploy lock/.test(String(e.message))), 'a warning event in --json mode');
  const r = await play(args);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`^\\[WARNING\\]: l1: took over a stale deploy lock \\(last heartbeat \\d+s ago, held by .* pid ${dead} playbook ok\\)$`, 'm'));
  assert.ok(!existsSync(lock), 'the run released the lease it took');
});

test('a --limit that leaves no host exits 4, naming the pattern, the hosts and roles; no host is touched', async () => {
  const audit = join(dir, 'state', 'l1', 'audit.log');
  const before = existsSync(audit) ? readFileSync(audit, 'utf8') : '';
  const r = await play(['ok', '-i', inv, '--limit', '!l1']);
  assert.equal(r.code, 4, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`^unibus play: --limit '!l1' matches no host this playbook targets \\(l1\\), so nothing was run; ${inv} has nodes l1 and roles \\S+`, 'm'));
  assert.doesNotMatch(r.stdout, /PLAY RECAP/);
  assert.equal(existsSync(audit) ? readFileSync(audit, 'utf8') : '', before, 'no run was recorded');
});

test('--tags that no task carries: a warning naming the tags there are, on stderr and as a JSON event', async () => {
  const r = await play(['ok', '-i', inv, '--check', '--tags', 'setpu']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /^\[WARNING\]: --tags: no task is tagged 'setpu' \(tags in this playbook: never, setup\)$/m);
  assert.doesNotMatch(r.stdout, /WARNING/);
  const j = await play(['ok', '-i', inv, '--check', '--json', '--tags', 'setpu']);
  assert.ok(j.events.some((e) => e.event === 'warning' && e.message === "--tags: no task is tagged 'setpu' (tags in this playbook: never, setup)"));
});

test('SIGINT: the command in flight finishes, later tasks do not run, the lease is released, exit 130', async () => {
  const { startPlay } = await import('../harness/play.js');
  writeFileSync(
    join(dir, 'playbooks', 'slow.yaml'),
    `- name: slow\n  hosts: all\n  tasks:\n    - name: wait\n      command: { argv: [sleep, "2"] }\n    - name: after\n      command: { argv: [touch, "${dir}/after-ran"] }\n`,
  );
  const run = startPlay(['slow', '-i', inv, '--json']);
  await run.waitForLine((l) => l.includes('"task_start"') && l.includes('"wait"'));
  run.child.kill('SIGINT');
  const r = await run.done;
  assert.equal(r.code, 130, r.stderr);
  assert.ok(!existsSync(join(dir, 'after-ran')), 'no task started after the interrupt');
  assert.ok(!existsSync(join(dir, 'state', 'l1', 'lock.json')), 'lease released');
  const audit = readFileSync(join(dir, 'state', 'l1', 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { playbook: string; exit: number });
  assert.deepEqual(audit.at(-1)!.playbook, 'slow');
  assert.equal(audit.at(-1)!.exit, 130);
});

test('check mode on a real shell: tasks that depend on earlier changes are predicted as apply then does', async () => {
  const { outcomes } = await import('../harness/play.js');
  const root = join(dir, 'dep');
  writeFileSync(
    join(dir, 'playbooks', 'dep.yaml'),
    [
      '- name: dependent',
      '  hosts: all',
      '  tasks:',
      `    - { name: folder, file: { path: "${root}/etc", state: directory, mode: "0750" } }`,
      `    - { name: conf, copy: { dest: "${root}/etc/a.conf", content: "one\\n" } }`,
      `    - { name: conf again, copy: { dest: "${root}/etc/a.conf", content: "one\\n", mode: "0600" } }`,
      `    - { name: once, command: { argv: [touch, "${root}/etc/b"], creates: "${root}/etc/a.conf" } }`,
      `    - { name: folder mode, file: { path: "${root}/etc", state: directory, mode: "0750" } }`,
      '',
    ].join('\n'),
  );
  const check = await play(['dep', '-i', inv, '--check', '--json']);
  assert.equal(check.code, 0, check.stderr);
  assert.ok(!existsSync(root), 'check created nothing');
  const apply = await play(['dep', '-i', inv, '--json']);
  assert.equal(apply.code, 0, apply.stderr);
  assert.deepEqual(outcomes(check), outcomes(apply));
  assert.ok(!existsSync(join(root, 'etc', 'b')), 'creates saw the file');
});
