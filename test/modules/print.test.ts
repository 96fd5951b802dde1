import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { describeCommand, formatFileDiff } from '../../src/modules/print.js';
import { Secret } from '../../src/secret.js';
import { buildCommandLine, quoteArg, quoteArgv, splitCommandLine } from '../../src/util/shell.js';

describe('describeCommand', () => {
  it('quotes argv, shows sudo, cwd and stdin size', () => {
    assert.equal(
      describeCommand({ kind: 'exec', argv: ['echo', 'a b', "it's", 'plain'], sudo: true, cwd: '/opt', stdin: 'abc' }),
      `sudo echo 'a b' 'it'\\''s' plain (in /opt) < (3 bytes on stdin)`,
    );
  });
  it('describes an upload by size, hash prefix, mode and owner', () => {
    const line = describeCommand({ kind: 'upload', path: '/etc/x', content: Buffer.from('hello'), mode: 0o640, owner: 'app', group: 'app' });
    assert.equal(line, 'upload /etc/x (5 bytes, sha256 2cf24dba, mode 0640, owner app:app)');
  });
  it('never shows secret bytes: secret uploads, secret stdin, and plain stdin marked secret', () => {
    const s = new Secret('correct horse battery staple');
    const lines = [
      describeCommand({ kind: 'upload', path: '/etc/k', content: s, mode: 0o600 }),
      describeCommand({ kind: 'exec', argv: ['tee', '/x'], stdin: s, secret: true }),
      describeCommand({ kind: 'exec', argv: ['tee', '/x'], stdin: 'correct horse battery staple', secret: true }),
      describeCommand({ kind: 'exec', argv: ['tee', '/x'], stdin: Buffer.from('correct horse battery staple'), secret: true }),
    ];
    for (const l of lines) {
      assert.doesNotMatch(l, /horse/);
      assert.match(l, new RegExp(`<redacted sha256:${s.fingerprint()}>`));
    }
  });
});

describe('formatFileDiff', () => {
  it('gives a unified diff', () => {
    const text = formatFileDiff({ path: '/etc/a', before: 'x\ny\n', after: 'x\nz\n' });
    assert.match(text, /^--- \/etc\/a\tbefore$/m);
    assert.match(text, /^@@ -1,2 \+1,2 @@$/m);
    assert.match(text, /^-y$/m);
    assert.match(text, /^\+z$/m);
  });
  it('a new file diffs against /dev/null', () => {
    assert.match(formatFileDiff({ path: '/etc/a', before: null, after: 'n\n' }), /^--- \/dev\/null/m);
  });
  it('a redacted diff shows fingerprints only, even if content slipped into it', () => {
    const s = new Secret('the-new-secret');
    const text = formatFileDiff({ path: '/etc/pw', before: 'the-old-secret', after: s.toString(), redacted: true });
    assert.doesNotMatch(text, /the-old-secret|the-new-secret/);
    assert.match(text, new RegExp(`-> <redacted sha256:${s.fingerprint()}>`));
    assert.match(text, /<redacted sha256:[0-9a-f]{8}> ->/);
  });
});

describe('util/shell quoting', () => {
  const nasty = ['', ' ', "'", '"', '$(id)', '`id`', 'a\nb', '\\', '*', '-n', 'é ü', "it's \"x\""];
  it('a real sh sees every word exactly as given', () => {
    const r = spawnSync('sh', ['-c', `printf '%s\\0' ${quoteArgv(nasty)}`], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.deepEqual(r.stdout.split('\0').slice(0, -1), nasty);
  });
  it('leaves plain words unquoted', () => {
    assert.equal(quoteArg('/usr/bin/app'), '/usr/bin/app');
    assert.equal(quoteArg('a=b,c:d@e'), 'a=b,c:d@e');
  });
  it('builds cd + sudo command lines', () => {
    assert.equal(buildCommandLine(['ls', 'a b'], { sudo: true, cwd: '/x y' }), `cd '/x y' && sudo -n -- ls 'a b'`);
  });
  it('splits a free-form command line like a shell does for words and quotes', () => {
    assert.deepEqual(splitCommandLine(`a "b c" 'd e' f\\ g "h\\"i" ''`), ['a', 'b c', 'd e', 'f g', 'h"i', '']);
    // round trip through the quoting
    assert.deepEqual(splitCommandLine(quoteArgv(nasty)), nasty);
  });
});
