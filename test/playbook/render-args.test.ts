import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeLab, play, run, task } from './fixtures.js';

test('rendered args are checked against the module schema before the module plans', async () => {
  const lab = fakeLab(1);
  const plays = [
    play(
      [
        task('file', { path: '/opt/a', state: 'directory', mode: '{{ dir_mode }}' }, { name: 'a number where the schema allows one' }),
        task('file', { path: '/opt/b', state: 'directory', mode: '{{ modes }}' }, { name: 'a list where it does not' }),
      ],
      { vars: { dir_mode: 750, modes: [750] } },
    ),
  ];
  const r = await run(lab, plays, { check: true });
  const by = (name: string) => r.results.find((x) => x.task === name)!;
  assert.equal(by('a number where the schema allows one').status, 'changed');
  assert.equal(by('a list where it does not').status, 'failed');
  assert.equal(by('a list where it does not').reason, 'file: mode: expected string or integer, got list');
});
