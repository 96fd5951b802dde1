import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonPrinter, textPrinter } from '../../src/cli/output.js';
import { describeCommand, formatFileDiff } from '../../src/modules/print.js';
import { fakeLab, play, run, task } from './fixtures.js';

async function sampleRun(check: boolean) {
  const lab = fakeLab(2);
  const restart = task('command', { argv: ['restart-it'] }, { name: 'restart app' });
  return run(lab, [play([task('copy', { dest: '/etc/app.conf', content: 'port=1\n' }, { name: 'conf', notify: ['restart app'] })], { name: 'app', handlers: [restart] })], { check, diff: true });
}

test('--json: one event per line, in order, ending with the recap', async () => {
  const r = await sampleRun(false);
  let text = '';
  const print = jsonPrinter((s) => (text += s), { describeCommand, formatDiff: formatFileDiff });
  for (const e of r.events) print(e);
  const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: string; host?: string; task?: string; handler?: boolean });
  const kinds = lines.map((l) => l.event);
  assert.deepEqual([...new Set(kinds)], ['run_start', 'play_start', 'task_start', 'host_result', 'handler', 'recap']);
  assert.equal(kinds.at(-1), 'recap');
  assert.equal(lines.filter((l) => l.event === 'host_result' && l.handler).length, 2, 'the handler ran on both hosts');
  const conf = lines.find((l) => l.event === 'host_result' && l.task === 'conf') as unknown as { commands: unknown[] };
  assert.deepEqual(conf.commands, ['upload /etc/app.conf (7 bytes, sha256 1d59d7dc, mode 0644)'], 'commands as printed, not raw bytes');
  assert.ok(!text.includes('port=1'), 'no file content in JSON events');
  const recap = lines.at(-1) as unknown as { hosts: Record<string, { changed: number }> };
  assert.deepEqual(Object.keys(recap.hosts), ['n1', 'n2']);
  assert.equal(recap.hosts.n1!.changed, 2);
});

test('plain output: headers, per-host lines, the plan with commands in check mode, a recap; no color codes without a TTY', async () => {
  const r = await sampleRun(true);
  let text = '';
  const printer = textPrinter({ verbose: false, diff: true, check: true, write: (s) => (text += s), tty: false, color: false, describers: { describeCommand, formatDiff: formatFileDiff } });
  for (const e of r.events) printer.emit(e);
  assert.match(text, /^PLAY \[app\] \*+$/m);
  assert.match(text, /^TASK \[conf\] \*+$/m);
  assert.match(text, /^would change: \[n1\] .*absent/m);
  assert.match(text, /^ {4}\$ upload \/etc\/app\.conf \(7 bytes/m);
  assert.match(text, /^\+port=1$/m, 'the diff');
  assert.match(text, /^RUNNING HANDLER \[restart app\] \*+$/m);
  assert.match(text, /^n1 : ok=0 {2}changed=2 {2}unreachable=0 {2}failed=0 {2}skipped=0$/m);
  assert.ok(!text.includes('\x1b['), 'no escape codes');
});

test("an ok task's reason shows only with -v, unless the module marks it a report", () => {
  const show = (verbose: boolean, report?: boolean) => {
    let text = '';
    const printer = textPrinter({ verbose, diff: false, check: false, write: (s) => (text += s), tty: false, color: false, describers: { describeCommand, formatDiff: formatFileDiff } });
    printer.emit({ event: 'host_result', task: 'check', handler: false, check: false, host: 'n1', status: 'ok', reason: 'sent 10, acked 9', commands: [], diff: [], noLog: false, report });
    return text;
  };
  assert.doesNotMatch(show(false), /acked/);
  assert.match(show(true), /^ok: \[n1\] sent 10, acked 9$/m);
  assert.match(show(false, true), /^ok: \[n1\] sent 10, acked 9$/m);
});
