import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeLab, play, run, task } from './fixtures.js';
import { defineModule } from '../../src/modules/define.js';
import type { ArgsSchema } from '../../src/modules/types.js';
import { defaultToolkit } from '../../src/playbook/toolkit.js';

const writeFile = (path: string, content: string, over = {}) => task('copy', { dest: path, content }, { name: `write ${path}`, ...over });

test('check predicts the counts apply reports, writes nothing; a re-run changes nothing', async () => {
  const lab = fakeLab(3);
  lab.hosts.get('n2')!.addFile('/etc/a.conf', 'A\n'); // already right on n2
  lab.hosts.get('n2')!.addFile('/etc/done', ''); // the command's `creates`
  const plays = [
    play([
      writeFile('/etc/a.conf', 'A\n'),
      writeFile('/etc/b.conf', 'host={{ inventory_hostname }}\n'),
      task('command', { argv: ['true'], creates: '/etc/done' }, { name: 'only once' }),
      task('command', { argv: ['echo', 'hi'] }, { when: "inventory_hostname == 'n3'", name: 'n3 only' }),
    ]),
  ];
  const before = [...lab.hosts].map(([h, t]) => [h, new Map(t.files)] as const);
  const check = await run(lab, plays, { check: true });
  for (const [h, files] of before) {
    const t = lab.hosts.get(h)!;
    assert.deepEqual(t.files, files, `${h}: files untouched by check`);
    assert.equal(t.calls.filter((c) => c.op === 'put').length, 0, `${h}: no upload in check mode`);
  }
  const apply = await run(lab, plays);
  assert.deepEqual(check.counts, apply.counts, 'check predicted the apply counts');
  assert.deepEqual(apply.counts.n1, { ok: 0, changed: 3, failed: 0, skipped: 1, unreachable: 0 });
  assert.deepEqual(apply.counts.n2, { ok: 2, changed: 1, failed: 0, skipped: 1, unreachable: 0 });
  assert.deepEqual(apply.counts.n3, { ok: 0, changed: 4, failed: 0, skipped: 0, unreachable: 0 });
  assert.equal(lab.hosts.get('n3')!.files.get('/etc/b.conf')!.content.toString(), 'host=n3\n');
  assert.equal(apply.exitCode, 0);
  const idempotent = plays.map((p) => ({ ...p, tasks: p.tasks.filter((t) => t.module !== 'command') }));
  const again = await run(lab, idempotent);
  for (const h of ['n1', 'n2', 'n3']) assert.equal(again.counts[h]!.changed, 0, `${h}: second apply changes nothing`);
});

test('a handler notified by two tasks runs once, only on the hosts that notified it', async () => {
  const lab = fakeLab(3);
  lab.hosts.get('n2')!.addFile('/etc/x', 'x\n').addFile('/etc/y', 'y\n');
  const restart = task('command', { argv: ['restart-it'] }, { name: 'restart app' });
  const plays = [play([writeFile('/etc/x', 'x\n', { notify: ['restart app'] }), writeFile('/etc/y', 'y\n', { notify: ['restart app'] })], { handlers: [restart] })];
  const r = await run(lab, plays);
  const restarts = (h: string) => lab.hosts.get(h)!.execArgvs().filter((a) => a[0] === 'restart-it').length;
  assert.equal(restarts('n1'), 1);
  assert.equal(restarts('n2'), 0);
  assert.equal(restarts('n3'), 1);
  assert.ok(r.events.some((e) => e.event === 'handler' && e.handler === 'restart app' && e.hosts.join() === 'n1,n3'));
  assert.equal(lab.hosts.get('n1')!.files.has('/var/lib/unibus/n1/pending-handlers.json'), false, 'pending cleared after the handler ran');
});

test('a handler that did not run because a later task failed is persisted and runs next time', async () => {
  const lab = fakeLab(1);
  const t = lab.hosts.get('n1')!;
  t.on(['flaky'], { code: 1, stdout: '', stderr: 'boom' });
  const restart = task('command', { argv: ['restart-it'] }, { name: 'restart app' });
  const plays = [play([writeFile('/etc/x', 'x\n', { notify: ['restart app'] }), task('command', { argv: ['flaky'] }, { name: 'flaky' })], { handlers: [restart] })];
  const first = await run(lab, plays);
  assert.equal(first.exitCode, 2);
  assert.equal(first.counts.n1!.failed, 1);
  assert.equal(t.execArgvs().filter((a) => a[0] === 'restart-it').length, 0, 'handler not run after the failure');
  const pending = JSON.parse(t.files.get('/var/lib/unibus/n1/pending-handlers.json')!.content.toString());
  assert.deepEqual(pending.map((p: { handler: string }) => p.handler), ['restart app']);

  t.on(['flaky'], { code: 0, stdout: '', stderr: '' });
  const check = await run(lab, plays, { check: true });
  assert.ok(check.results.some((r) => r.task === 'restart app' && r.handler && r.status === 'changed'), 'check mode predicts the pending handler');
  const second = await run(lab, plays);
  assert.deepEqual(check.counts, second.counts);
  assert.equal(t.execArgvs().filter((a) => a[0] === 'restart-it').length, 1, 'pending handler ran on the next run');
  assert.equal(t.files.has('/var/lib/unibus/n1/pending-handlers.json'), false, 'then cleared');
  await run(lab, plays);
  assert.equal(t.execArgvs().filter((a) => a[0] === 'restart-it').length, 1, 'and not again');
});

test('serial batches stop at the first failing batch', async () => {
  const lab = fakeLab(3);
  lab.hosts.get('n2')!.on(['step'], { code: 3, stdout: '', stderr: 'no' });
  const r = await run(lab, [play([task('command', { argv: ['step'] }, { name: 'step' })], { serial: 1 }), play([task('command', { argv: ['later'] })])]);
  assert.equal(r.counts.n1!.changed, 1);
  assert.equal(r.counts.n2!.failed, 1);
  assert.deepEqual(r.counts.n3, { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: 0 });
  assert.equal(lab.hosts.get('n3')!.execArgvs().some((a) => a[0] === 'step'), false);
  assert.equal(lab.hosts.get('n1')!.execArgvs().some((a) => a[0] === 'later'), false, 'later plays do not run either');
  assert.equal(r.exitCode, 2);
});

test('without serial a failed host is dropped and the others go on', async () => {
  const lab = fakeLab(2);
  lab.hosts.get('n1')!.on(['step'], { code: 1, stdout: '', stderr: '' });
  const r = await run(lab, [play([task('command', { argv: ['step'] }), task('command', { argv: ['next'] })])]);
  assert.equal(lab.hosts.get('n1')!.execArgvs().some((a) => a[0] === 'next'), false);
  assert.equal(lab.hosts.get('n2')!.execArgvs().some((a) => a[0] === 'next'), true);
  assert.equal(r.counts.n2!.changed, 2);
});

test('any_errors_fatal: one host failing a task, inside a looped include too, ends the play for every host there; later plays do not run', async () => {
  const lab = fakeLab(3);
  lab.hosts.get('n3')!.on(['verify', 'b'], { code: 1, stdout: '', stderr: 'not current' });
  const include = task('include_tasks', {}, {
    name: 'faults',
    loop: "{{ ['a', 'b', 'c'] }}",
    include: { file: '/p/fault.yaml', tasks: [task('command', { argv: ['verify', '{{ fault }}'] }, { name: 'verify' })], loopVar: 'fault' },
  });
  const r = await run(lab, [play([include, task('command', { argv: ['check'] }, { name: 'check' })], { any_errors_fatal: true }), play([task('command', { argv: ['later'] })])]);
  const steps = (l: typeof lab, h: string) => l.hosts.get(h)!.execArgvs().filter((a) => a[0] !== 'sh').map((a) => a.join(' '));
  for (const h of ['n1', 'n2', 'n3']) assert.deepEqual(steps(lab, h), ['verify a', 'verify b'], `${h}: nothing after the failed item`);
  assert.equal(r.counts.n3!.failed, 1);
  assert.equal(r.counts.n1!.failed, 0, 'the recap counts the failure where it happened');
  const ended = r.events.flatMap((e) => (e.event === 'host_result' && e.status === 'failed' && /^any_errors_fatal: n3 failed "verify"; the play ends for every host$/.test(e.reason) ? [e.host] : []));
  assert.deepEqual(ended.sort(), ['n1', 'n2']);
  assert.equal(r.exitCode, 2);

  // Without it, the same failure drops n3 alone and the others go on to the end.
  const lab2 = fakeLab(3);
  lab2.hosts.get('n3')!.on(['verify', 'b'], { code: 1, stdout: '', stderr: 'not current' });
  await run(lab2, [play([include, task('command', { argv: ['check'] }, { name: 'check' })])]);
  assert.deepEqual(steps(lab2, 'n1'), ['verify a', 'verify b', 'verify c', 'check']);
});

test('tags: always, never, --tags and --skip-tags', async () => {
  const lab = fakeLab(1);
  const tasks = [
    task('command', { argv: ['a'] }, { tags: ['web'] }),
    task('command', { argv: ['b'] }, { tags: ['always'] }),
    task('command', { argv: ['c'] }, { tags: ['never', 'debug'] }),
    task('command', { argv: ['d'] }),
  ];
  const ran = async (o: { tags?: string[]; skipTags?: string[] }) => {
    const l = fakeLab(1);
    await run(l, [play(tasks)], o);
    return l.hosts.get('n1')!.execArgvs().map((a) => a[0]).filter((x) => ['a', 'b', 'c', 'd'].includes(x!)).join('');
  };
  void lab;
  assert.equal(await ran({}), 'abd');
  assert.equal(await ran({ tags: ['web'] }), 'ab');
  assert.equal(await ran({ tags: ['debug'] }), 'bc');
  assert.equal(await ran({ skipTags: ['web'] }), 'bd');
  assert.equal(await ran({ skipTags: ['always'] }), 'ad');
});

test('--tags or --skip-tags naming a tag no task carries: a warning naming the tags there are', async () => {
  const tasks = [task('command', { argv: ['a'] }, { tags: ['web'] }), task('command', { argv: ['b'] }, { tags: ['never', 'debug'] }), task('command', { argv: ['c'] })];
  const warnings = async (o: { tags?: string[]; skipTags?: string[] }) => {
    const r = await run(fakeLab(1), [play(tasks)], o);
    return r.events.flatMap((e) => (e.event === 'warning' ? [e.message] : []));
  };
  assert.deepEqual(await warnings({ tags: ['wbe'] }), ["--tags: no task is tagged 'wbe' (tags in this playbook: debug, never, web)"]);
  assert.deepEqual(await warnings({ tags: ['web', 'dbug'], skipTags: ['nope'] }), [
    "--tags: no task is tagged 'dbug' (tags in this playbook: debug, never, web)",
    "--skip-tags: no task is tagged 'nope' (tags in this playbook: debug, never, web)",
  ]);
  assert.deepEqual(await warnings({ tags: ['all', 'untagged', 'debug'], skipTags: ['web'] }), [], 'all, untagged (a task has no tag) and known tags match');
  const untagged = await run(fakeLab(1), [play([task('command', { argv: ['a'] })])], { tags: ['untagged', 'x'] });
  assert.deepEqual(untagged.events.flatMap((e) => (e.event === 'warning' ? [e.message] : [])), ["--tags: no task is tagged 'x' (no task in this playbook has a tag)"]);
});

test('loop, register, run_once, until/retries, changed_when/failed_when, no_log', async () => {
  const lab = fakeLab(2);
  let calls = 0;
  lab.hosts.get('n1')!.on(['probe'], () => ({ code: 0, stdout: String(++calls), stderr: '' }));
  const r = await run(lab, [
    play([
      task('copy', { dest: '/etc/{{ item }}', content: '{{ item }}' }, { loop: ['p', 'q'], name: 'loop' }),
      task('command', { argv: ['probe'] }, { run_once: true, register: 'probe', until: "probe.stdout == '3'", retries: 5, delay: 1, name: 'probe' }),
      task('command', { argv: ['echo', '{{ probe.stdout }}'] }, { changed_when: false, name: 'read registered' }),
      task('command', { argv: ['fine'] }, { failed_when: "inventory_hostname == 'n2'", name: 'fails on n2' }),
      task('copy', { dest: '/etc/secret', content: 'hunter2' }, { no_log: true, name: 'secret' }),
    ]),
  ]);
  assert.deepEqual(['/etc/p', '/etc/q'].map((p) => lab.hosts.get('n2')!.files.get(p)?.content.toString()), ['p', 'q']);
  const probe = r.results.filter((x) => x.task === 'probe');
  assert.equal(probe.length, 1, 'run_once runs on one host');
  assert.equal(probe[0]!.attempts, 3);
  assert.deepEqual(probe[0]!.delegatedFor, ['n2']);
  assert.equal(lab.hosts.get('n2')!.execArgvs().some((a) => a[0] === 'probe'), false);
  const echoes = [...lab.hosts.values()].map((t) => t.execArgvs().find((a) => a[0] === 'echo'));
  assert.deepEqual(echoes, [['echo', '3'], ['echo', '3']], 'the registered result is shared with every host');
  assert.ok(r.results.filter((x) => x.task === 'read registered').every((x) => x.status === 'ok'));
  assert.equal(r.results.find((x) => x.task === 'fails on n2' && x.host === 'n2')!.status, 'failed');
  const secret = r.results.find((x) => x.task === 'secret' && x.host === 'n1')!;
  assert.equal(secret.commands.length, 0);
  assert.ok(!JSON.stringify(r.events).includes('hunter2'), 'no_log keeps content out of every event');
});

test('a failed run_once task fails every host it ran for: no host goes on, the recap counts one failure', async () => {
  const lab = fakeLab(3);
  lab.hosts.get('n1')!.on(['gate'], { code: 1, stdout: '', stderr: 'refused' });
  const r = await run(lab, [play([task('command', { argv: ['gate'] }, { run_once: true, name: 'gate' }), task('command', { argv: ['after'] }, { name: 'after' })])]);
  assert.equal(r.exitCode, 2);
  assert.deepEqual(r.results.filter((x) => x.task === 'gate').map((x) => [x.host, x.status, x.delegatedFor]), [['n1', 'failed', ['n2', 'n3']]]);
  assert.equal(r.results.filter((x) => x.task === 'after').length, 0, 'no host ran the next task');
  for (const h of ['n1', 'n2', 'n3']) assert.equal(lab.hosts.get(h)!.execArgvs().some((a) => a[0] === 'after'), false, h);
  assert.deepEqual(Object.fromEntries(Object.entries(r.counts).map(([h, c]) => [h, c.failed])), { n1: 1, n2: 0, n3: 0 });
});

test('plans made ahead are dropped when a task changes the host: a later task sees the change', async () => {
  const lab = fakeLab(1);
  const t = lab.hosts.get('n1')!;
  const plays = [
    play([
      task('copy', { dest: '/etc/s1', content: 'x' }, { name: 'unchanged' }),
      writeFile('/etc/made', 'x'),
      task('command', { argv: ['init'] }, { creates: '/etc/made', name: 'init once' } as never),
      task('set_fact', { flag: 'on' }, { name: 'fact' }),
      task('command', { argv: ['echo', '{{ flag }}'] }, { name: 'uses fact' }),
    ]),
  ];
  plays[0]!.tasks[2]!.args.creates = '/etc/made';
  t.addFile('/etc/s1', 'x');
  const r = await run(lab, plays);
  assert.equal(r.results.find((x) => x.task === 'init once')!.status, 'ok', 'creates saw the file written by the task before');
  assert.equal(t.execArgvs().some((a) => a[0] === 'init'), false);
  assert.deepEqual(t.execArgvs().find((a) => a[0] === 'echo'), ['echo', 'on'], 'a task using a fact is planned after the fact is set');
});

test('until retries a failing attempt, and fails with the last reason when retries run out', async () => {
  const lab = fakeLab(2);
  let n = 0;
  lab.hosts.get('n1')!.on(['flaky'], () => (++n < 3 ? { code: 1, stdout: '', stderr: `try ${n}` } : { code: 0, stdout: 'up', stderr: '' }));
  lab.hosts.get('n2')!.on(['flaky'], { code: 1, stdout: '', stderr: 'down' });
  const r = await run(lab, [play([task('command', { argv: ['flaky'] }, { register: 'out', until: 'out is succeeded', retries: 4, delay: 1, name: 'flaky' })])]);
  const n1 = r.results.find((x) => x.host === 'n1')!;
  assert.equal(n1.status, 'changed');
  assert.equal(n1.attempts, 3);
  const n2 = r.results.find((x) => x.host === 'n2')!;
  assert.equal(n2.status, 'failed');
  assert.equal(n2.attempts, 5);
  assert.match(n2.reason, /down \(after 5 attempts\)/);
});

test('--limit narrows the hosts; --forks 1 runs one host at a time with the same results', async () => {
  const lab = fakeLab(3);
  const plays = [play([writeFile('/etc/l', 'l')])];
  const limited = await run(lab, plays, { limit: ['n2'] });
  assert.deepEqual(Object.keys(limited.counts), ['n2']);
  assert.equal(lab.hosts.get('n1')!.files.has('/etc/l'), false);
  let inFlight = 0;
  let most = 0;
  for (const t of lab.hosts.values()) {
    const put = t.put.bind(t);
    t.put = async (...a: Parameters<typeof put>) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return put(...a);
    };
  }
  const serial = await run(lab, plays, { forks: 1 });
  assert.equal(most, 1, 'never two hosts at once');
  assert.deepEqual(serial.counts.n1, { ok: 0, changed: 1, failed: 0, skipped: 0, unreachable: 0 });
  assert.deepEqual(serial.counts.n2, { ok: 1, changed: 0, failed: 0, skipped: 0, unreachable: 0 });
});

test('a --limit that leaves no host of the playbook is refused before any host is touched', async () => {
  const { LimitMatchesNoHostError } = await import('../../src/playbook/execute.js');
  const lab = fakeLab(3);
  const connected: string[] = [];
  const plays = [play([writeFile('/etc/l', 'l')], { hosts: ['seed'] })];
  const connect = async (node: { name: string }) => {
    connected.push(node.name);
    return lab.hosts.get(node.name)!;
  };
  for (const limit of [['n2'], ['!n1'], ['node']]) {
    await assert.rejects(run(lab, plays, { limit, connect }), (e: unknown) => {
      assert.ok(e instanceof LimitMatchesNoHostError);
      assert.equal(e.message, `--limit '${limit.join(',')}' matches no host this playbook targets (n1), so nothing was run; inventory.yaml has nodes n1, n2, n3 and roles seed, node`);
      return true;
    });
  }
  assert.deepEqual(connected, [], 'no host was connected to');
  for (const t of lab.hosts.values()) assert.deepEqual(t.calls, []);
  assert.deepEqual(Object.keys((await run(lab, plays, { limit: ['n1,n2'], connect })).counts), ['n1'], 'a limit that keeps one host runs');
});

test('check mode sees the changes earlier tasks would make: predictions that depend on them match apply', async () => {
  const lab = fakeLab(2);
  lab.hosts.get('n2')!.addDir('/srv').addFile('/srv/app.conf', 'v1\n', { mode: 0o600 });
  const plays = [
    play([
      task('file', { path: '/srv', state: 'directory' }, { name: 'folder' }),
      writeFile('/srv/app.conf', 'v2\n'),
      task('copy', { dest: '/srv/app.conf', content: 'v2\n', mode: '0640' }, { name: 'same file, a mode' }),
      task('command', { argv: ['init'], creates: '/srv/app.conf' }, { name: 'creates' }),
      task('file', { path: '/srv/old', state: 'absent' }, { name: 'absent' }),
    ]),
  ];
  const before = [...lab.hosts].map(([h, t]) => [h, new Map(t.files)] as const);
  const check = await run(lab, plays, { check: true });
  for (const [h, files] of before) assert.deepEqual(lab.hosts.get(h)!.files, files, `${h}: check wrote nothing`);
  const apply = await run(lab, plays);
  const by = (r: typeof check) => r.results.map((x) => `${x.host} ${x.task} ${x.status}`).sort();
  assert.deepEqual(by(check), by(apply));
  assert.equal(apply.results.find((x) => x.host === 'n1' && x.task === 'creates')!.status, 'ok', 'creates saw the file written earlier');
  assert.equal(apply.results.find((x) => x.host === 'n1' && x.task === 'same file, a mode')!.status, 'changed');
});

test('a no-op run reads the facts of consecutive file tasks in one exec per host', async () => {
  const { PATH_STAT } = await import('../../src/modules/facts/paths.js');
  const STAT_SCRIPT = PATH_STAT.argv([])[2];
  const lab = fakeLab(1);
  const t = lab.hosts.get('n1')!;
  const plays = [play(['a', 'b', 'c', 'd', 'e'].map((x) => writeFile(`/etc/${x}`, x)))];
  await run(lab, plays);
  const stats = () => t.execArgvs().filter((a) => a[2] === STAT_SCRIPT).length;
  const before = stats();
  const again = await run(lab, plays);
  assert.equal(again.counts.n1!.ok, 5);
  assert.equal(stats() - before, 1, 'one stat of the five paths');
});

test("a verdict step's last stdout line is the task's reason, failure and result; a step without one fails the task", async () => {
  const lab = fakeLab(1);
  const t = lab.hosts.get('n1')!;
  t.on(['judge', 'ok'], { code: 0, stdout: 'progress line\n{"reason":"3 rooms read back","result":{"rooms":3}}\n', stderr: '' });
  t.on(['judge', 'bad'], { code: 0, stdout: '{"reason":"room r1 lost","failed":true,"result":{"violations":["r1"]}}\n', stderr: '' });
  t.on(['judge', 'mute'], { code: 0, stdout: 'no verdict here\n', stderr: '' });
  const base = defaultToolkit();
  const judge = defineModule({
    name: 'judge',
    argsSchema: { type: 'object', additionalProperties: false, required: ['how'], properties: { how: { type: 'string' } } } as const satisfies ArgsSchema,
    plan: async (args) => ({ changed: false, reason: 'planned reason', commands: [{ kind: 'exec', argv: ['judge', args.how], verdict: true }] }),
  });
  const toolkit = { ...base, getModule: (name: string) => (name === 'judge' ? judge : base.getModule(name)) };
  const r = await run(lab, [play([task('judge', { how: 'ok' }, { name: 'ok', register: 'j' }), task('assert', { that: ['j.rooms == 3'] }, { name: 'result registered' })])], { toolkit });
  assert.deepEqual(r.results.map((x) => [x.task, x.status, x.reason]), [['ok', 'ok', '3 rooms read back'], ['result registered', 'ok', r.results[1]!.reason]]);
  const bad = await run(lab, [play([task('judge', { how: 'bad' }, { name: 'bad' })])], { toolkit });
  assert.equal(bad.results[0]!.status, 'failed');
  assert.equal(bad.results[0]!.reason, 'room r1 lost');
  const mute = await run(lab, [play([task('judge', { how: 'mute' }, { name: 'mute' })])], { toolkit });
  assert.equal(mute.results[0]!.status, 'failed');
  assert.match(mute.results[0]!.reason, /^the step gave no verdict \(expected a JSON line .* got "no verdict here"\)$/);
  const check = await run(lab, [play([task('judge', { how: 'bad' }, { name: 'bad' })])], { toolkit, check: true });
  assert.equal(check.results[0]!.reason, 'planned reason', 'check mode keeps the plan\'s reason: the step does not run');
});

test('include_tasks with loop runs the file once per item with loop_var bound, judging its when per item and host', async () => {
  const lab = fakeLab(3);
  const children = [
    task('command', { argv: ['hit', '{{ fault.name }}', '{{ inventory_hostname }}'] }, { name: 'hit', when: 'inventory_hostname in fault.targets' }),
    task('command', { argv: ['note', '{{ fault.name }}'] }, { name: 'note', run_once: true, register: 'noted' }),
  ];
  const faults = [
    { name: 'a', targets: ['n1'] },
    { name: 'b', targets: ['n2', 'n3'] },
    { name: 'skip-me', targets: ['n1'] },
  ];
  const include = task('include_tasks', {}, {
    name: 'faults',
    loop: '{{ faults }}',
    when: "fault.name != 'skip-me'",
    include: { file: '/p/fault.yaml', tasks: children, loopVar: 'fault' },
  });
  const after = task('command', { argv: ['after', '{{ noted.cmd | default("none") }}'] }, { name: 'after' });
  const r = await run(lab, [play([include, after], { vars: { faults } })]);
  assert.equal(r.exitCode, 0);
  const argvs = (h: string) => lab.hosts.get(h)!.execArgvs().map((a) => a.join(' '));
  assert.deepEqual(argvs('n1').filter((a) => a.startsWith('hit')), ['hit a n1'], 'n1: only the item naming it, and not the one whose when fails');
  assert.deepEqual(argvs('n2').filter((a) => a.startsWith('hit')), ['hit b n2']);
  assert.deepEqual(argvs('n3').filter((a) => a.startsWith('hit')), ['hit b n3']);
  const notes = [...lab.hosts.values()].flatMap((t) => t.execArgvs().filter((a) => a[0] === 'note').map((a) => a.join(' ')));
  assert.deepEqual(notes, ['note a', 'note b'], 'run_once inside the loop: once per item, skipped for the item whose when fails');
  assert.ok(argvs('n1').every((a) => !a.includes('skip-me')), 'nothing ran for the item whose when failed');
  assert.ok(r.events.some((e) => e.event === 'host_result' && e.task === 'faults' && /3 items/.test(e.reason)));
});

test('include_tasks with a loop that is not a list fails the host, naming where', async () => {
  const lab = fakeLab(1);
  const include = task('include_tasks', {}, { loop: '{{ 7 }}', include: { file: '/p/x.yaml', tasks: [task('command', { argv: ['x'] })], loopVar: 'item' } });
  const r = await run(lab, [play([include])]);
  assert.notEqual(r.exitCode, 0);
  assert.ok(r.events.some((e) => e.event === 'host_result' && e.status === 'failed' && /loop: expected a list/.test(e.reason)));
  assert.equal(lab.hosts.get('n1')!.execArgvs().filter((a) => a[0] === 'x').length, 0);
});

test('include_tasks without loop: its when is judged once per host and not handed to the included tasks', async () => {
  const lab = fakeLab(2);
  // The first included task changes what the include's when looked at: under
  // import semantics (the when copied onto each task) the second would be skipped.
  const children = [
    task('set_fact', { gate: false }, { name: 'close the gate' }),
    task('command', { argv: ['inner', '{{ inventory_hostname }}'] }, { name: 'inner' }),
  ];
  const include = task('include_tasks', {}, { name: 'gated', when: 'gate and inventory_hostname == "n1"', include: { file: '/p/gated.yaml', tasks: children } });
  const r = await run(lab, [play([include], { vars: { gate: true } })]);
  assert.equal(r.exitCode, 0);
  const inner = (h: string) => lab.hosts.get(h)!.execArgvs().filter((a) => a[0] === 'inner').map((a) => a.join(' '));
  assert.deepEqual(inner('n1'), ['inner n1'], 'n1 included the file once, and its tasks ran though the gate closed inside');
  assert.deepEqual(inner('n2'), [], 'n2: the include\'s when was false, nothing of the file ran');
  const shown = r.events.flatMap((e) => (e.event === 'host_result' && e.task === 'gated' ? [[e.host, e.status]] : []));
  assert.deepEqual(shown.sort(), [['n1', 'ok'], ['n2', 'skipped']]);
  assert.ok(!r.events.some((e) => e.event === 'host_result' && e.task === 'inner' && e.host === 'n2'), 'no per-task skips for a host that did not include the file');
});

test('include_tasks tags select the include itself; the included tasks answer to their own tags', async () => {
  const ran = async (includeTags: string[], o: { tags?: string[]; skipTags?: string[] }) => {
    const l = fakeLab(1);
    const children = [task('command', { argv: ['t'] }, { tags: ['x'] }), task('command', { argv: ['u'] })];
    await run(l, [play([task('include_tasks', {}, { tags: includeTags, include: { file: '/p/i.yaml', tasks: children } })])], o);
    return l.hosts.get('n1')!.execArgvs().map((a) => a[0]).filter((x) => ['t', 'u'].includes(x!)).join('');
  };
  assert.equal(await ran([], {}), 'tu');
  assert.equal(await ran(['x'], { tags: ['x'] }), 't', 'the include matches x; of its tasks only the one tagged x');
  assert.equal(await ran([], { tags: ['x'] }), '', 'an untagged include is not selected by --tags x, whatever its tasks carry');
  assert.equal(await ran(['always'], { tags: ['x'] }), 't');
  assert.equal(await ran(['x'], { skipTags: ['x'] }), '', '--skip-tags x skips the include and all in it');
});

test('include_tasks nest: an include inside a looped include sees the outer item, and restores it after', async () => {
  const lab = fakeLab(1);
  const innermost = [task('command', { argv: ['in', '{{ outer }}', '{{ inner }}'] })];
  const inner = task('include_tasks', {}, { name: 'inner', loop: '{{ [1, 2] }}', include: { file: '/p/inner.yaml', tasks: innermost, loopVar: 'inner' } });
  const plain = task('include_tasks', {}, { name: 'plain', when: "outer != 'b'", include: { file: '/p/plain.yaml', tasks: [task('command', { argv: ['plain', '{{ outer }}'] })] } });
  const after = task('command', { argv: ['after', '{{ outer }}'] });
  const outer = task('include_tasks', {}, { name: 'outer', loop: "{{ ['a', 'b'] }}", include: { file: '/p/outer.yaml', tasks: [inner, plain, after], loopVar: 'outer' } });
  const r = await run(lab, [play([outer])]);
  assert.equal(r.exitCode, 0);
  const argvs = lab.hosts.get('n1')!.execArgvs().map((a) => a.join(' ')).filter((a) => /^(in|plain|after) /.test(a));
  assert.deepEqual(argvs, ['in a 1', 'in a 2', 'plain a', 'after a', 'in b 1', 'in b 2', 'after b']);
});

test('role defaults and inventory vars that are templates render when used, as in Ansible; a registered result is never templated; + joins lists', async () => {
  const lab = fakeLab(1);
  lab.inv.nodes[0]!.vars = { bin_dir: '{{ state_dir }}/bin', pkgs: ['{{ base_pkg }}'] };
  lab.hosts.get('n1')!.on(['emit'], { code: 0, stdout: '{{ not_a_var }}', stderr: '' });
  const r = await run(lab, [
    play(
      [
        task('command', { argv: ['{{ nats_bin }}', '{{ (pkgs + ["extra"]) | join(",") }}'] }, { name: 'uses the defaults' }),
        task('command', { argv: ['emit'] }, { name: 'emit', register: 'out' }),
        task('command', { argv: ['echo', '{{ out.stdout }}'] }, { name: 'registered' }),
      ],
      { roleDefaults: { nats_bin: '{{ bin_dir }}/nats-server', base_pkg: 'nodejs' } },
    ),
  ]);
  assert.equal(r.exitCode, 0, JSON.stringify(r.results.filter((x) => x.status === 'failed')));
  const argvs = lab.hosts.get('n1')!.execArgvs();
  assert.ok(argvs.some((a) => a[0] === '/var/lib/unibus/n1/bin/nats-server' && a[1] === 'nodejs,extra'), JSON.stringify(argvs.slice(-6)));
  // The command's own output holds braces: printed as it came, not rendered (it would fail: not_a_var is undefined).
  assert.ok(argvs.some((a) => a[0] === 'echo' && a[1] === '{{ not_a_var }}'), JSON.stringify(argvs.slice(-3)));
});

test('a default that refers to itself through another is an error naming the loop', async () => {
  const lab = fakeLab(1);
  const r = await run(lab, [play([task('command', { argv: ['{{ a }}'] }, { name: 'loops' })], { roleDefaults: { a: '{{ b }}', b: '{{ a }}' } })]);
  assert.equal(r.counts.n1!.failed, 1);
  assert.match(r.results.find((x) => x.task === 'loops')!.reason, /recursive loop detected in template string: a \(a -> b -> a\)/);
});

test("ansible_check_mode is Ansible's magic variable: true in check mode, false in a run", async () => {
  const lab = fakeLab(1);
  const pb = [play([task('command', { argv: ['only-when-applied'] }, { name: 'applied only', when: ['not ansible_check_mode'] })])];
  const checked = await run(lab, pb, { check: true });
  assert.equal(checked.results.find((x) => x.task === 'applied only')!.status, 'skipped');
  const applied = await run(lab, pb);
  assert.equal(applied.results.find((x) => x.task === 'applied only')!.status, 'changed');
  assert.ok(lab.hosts.get('n1')!.execArgvs().some((a) => a[0] === 'only-when-applied'));
});
