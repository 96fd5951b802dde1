import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { checkHostKey, keyTypeOf, knownHostsName, matchesHostField, parseKnownHosts } from '../../src/transport/known-hosts.js';

function blob(type: string, body: string): Buffer {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, Buffer.from(body)]);
}
const k1 = blob('ssh-ed25519', 'key-one');
const k2 = blob('ssh-ed25519', 'key-two');

describe('known_hosts', () => {
  it('names non-22 ports in brackets', () => {
    assert.equal(knownHostsName('h', 22), 'h');
    assert.equal(knownHostsName('10.99.1.11', 2222), '[10.99.1.11]:2222');
  });
  it('matches plain lists, wildcards and negation', () => {
    assert.ok(matchesHostField('a,b,[c]:2222', '[c]:2222'));
    assert.ok(!matchesHostField('[c]:2222', 'c'));
    assert.ok(matchesHostField('10.99.1.*', '10.99.1.12'));
    assert.ok(!matchesHostField('10.99.1.*,!10.99.1.12', '10.99.1.12'));
    assert.ok(!matchesHostField('10.99.1.1?', '10.99.1.1'));
  });
  it('matches hashed entries', () => {
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('[h]:2200').digest();
    const field = `|1|${salt.toString('base64')}|${hash.toString('base64')}`;
    assert.ok(matchesHostField(field, '[h]:2200'));
    assert.ok(!matchesHostField(field, 'h'));
  });
  it('says ok, mismatch (naming the lines), unknown and revoked', () => {
    const text = `# comment\n[h]:2200 ssh-ed25519 ${k1.toString('base64')}\n\nother ssh-ed25519 ${k2.toString('base64')}\n@revoked * ssh-ed25519 ${k2.toString('base64')}\n`;
    const e = parseKnownHosts(text);
    assert.equal(e.length, 3);
    assert.equal(keyTypeOf(e[0]!.key), 'ssh-ed25519');
    assert.deepEqual(checkHostKey(e, 'h', 2200, k1), { ok: true });
    const mm = checkHostKey(e, 'h', 2200, blob('ssh-ed25519', 'evil'));
    assert.ok(!mm.ok && mm.kind === 'mismatch' && /line\(s\) 2/.test(mm.detail));
    const un = checkHostKey(e, 'h', 22, k1);
    assert.ok(!un.ok && un.kind === 'unknown');
    const rv = checkHostKey(e, 'other', 22, k2);
    assert.ok(!rv.ok && rv.kind === 'revoked');
  });
});
