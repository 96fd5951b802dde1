import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argsValidator, checkArgs } from '../../src/modules/define.js';
import { ModuleArgsError } from '../../src/modules/errors.js';
import { getModule } from '../../src/modules/index.js';
import { ROLE_EXPECTED } from '../../src/protocol/model.js';

const refused = (module: string, args: unknown, message: string) =>
  assert.throws(() => checkArgs(getModule(module), args), (e: unknown) => e instanceof ModuleArgsError && e.message === message);

describe('checkArgs: rendered args against the module schema', () => {
  it('passes args the schema allows through as they are', () => {
    const args = { dest: '/etc/a', content: 'x', mode: 644 };
    assert.equal(checkArgs(getModule('copy'), args), args);
    assert.deepEqual(checkArgs(getModule('cluster_preflight'), { ip: '10.0.0.1', ports: [8470, '4250'], dir: '/var/lib/u', manager: 'process' }).ports, [8470, '4250']);
  });

  it('names the first wrong field, as a templated value rendered it', () => {
    refused('copy', { dest: '/etc/a', content: 'x', mode: true }, 'copy: mode: expected string or integer, got boolean true');
    refused('file', { path: '/x', state: 'gone' }, 'file: state: "gone" is not one of file, directory, absent, touch');
    refused('copy', { content: 'x' }, 'copy: dest: is required');
    refused('file', { path: '/x', mdoe: '0644' }, 'file: mdoe: is not an argument (expected one of: path, state, mode, owner, group)');
    refused('cluster_stage', { files: [{ src: '/a', dest: 7 }] }, 'cluster_stage: files[0].dest: expected string, got integer 7');
    refused('cluster_user', { handle: 'erin', pubkey: 'ab'.repeat(32), role: 'root' }, `cluster_user: role: expected ${ROLE_EXPECTED}`);
  });

  it('is the validator playbook load uses, compiled once per module', () => {
    assert.equal(argsValidator(getModule('copy')), argsValidator(getModule('copy')));
  });
});
