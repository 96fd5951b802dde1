// unibus doctor: version parsing, judging and the report, on outputs the real
// tools print, plus probes of the real tools on this machine.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CHECKS, allRequiredOk, compareVersions, evaluate, formatReport, parseVersion, type CheckSpec } from '../../src/doctor/checks.js';
import { findOnPath, probe } from '../../src/doctor/probe.js';
import { run } from '../../src/cli/doctor.js';

const spec = (id: string): CheckSpec => {
  const s = CHECKS.find((c) => c.id === id);
  assert.ok(s, `no check ${id}`);
  return s;
};

describe('version parsing', () => {
  test('reads the versions real tools print', () => {
    assert.equal(parseVersion('nats-server: v2.10.27\n'), '2.10.27');
    assert.equal(parseVersion('OpenSSL 3.0.15 3 Sep 2024 (Library: OpenSSL 3.0.15 3 Sep 2024)'), '3.0.15');
    assert.equal(parseVersion('v20.19.2'), '20.19.2');
    assert.equal(parseVersion('debootstrap 1.0.128+nmu2+deb12u2'), '1.0.128');
    assert.equal(parseVersion('no digits here'), undefined);
    const ssh = spec('ssh').parse!;
    assert.equal(ssh('OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024'), '9.2');
    assert.equal(spec('systemd-nspawn').parse!('systemd 252 (252.39-1~deb12u2)\n+PAM +AUDIT'), '252');
    assert.equal(spec('ip').parse!('ip utility, iproute2-6.1.0, libbpf 1.1.0'), '6.1.0');
  });

  test('compares dotted versions numerically', () => {
    assert.equal(compareVersions('2.10.27', '2.10'), 1);
    assert.equal(compareVersions('2.9.10', '2.10'), -1);
    assert.equal(compareVersions('2.10', '2.10.0'), 0);
    assert.equal(compareVersions('20.19.0', '20.19'), 0);
    assert.equal(compareVersions('20.18.3', '20.19'), -1);
    assert.equal(compareVersions('22.1.0', '20.19'), 1);
  });
});

describe('judging', () => {
  const opts = { lab: false, root: '/opt/unibus' };

  test('nats-server 2.9 is too old, 2.10 is good', () => {
    const old = evaluate(spec('nats-server'), { found: true, path: '/usr/bin/nats-server', output: 'nats-server: v2.9.10' }, opts);
    assert.equal(old.ok, false);
    assert.equal(old.required, true);
    assert.match(old.problem!, /2\.9\.10 is older than 2\.10/);
    assert.equal(old.fix, 'bash /opt/unibus/scripts/install-nats-server.sh');
    const good = evaluate(spec('nats-server'), { found: true, output: 'nats-server: v2.10.27' }, opts);
    assert.equal(good.ok, true);
    assert.equal(good.version, '2.10.27');
  });

  test('a missing tool names the command that fixes it', () => {
    const r = evaluate(spec('ssh'), { found: false, output: '' }, opts);
    assert.deepEqual([r.ok, r.problem, r.fix], [false, 'not found', 'apt-get install -y openssh-client']);
    const node = evaluate(spec('node'), { found: true, output: 'v18.19.0' }, opts);
    assert.equal(node.ok, false);
    assert.match(node.fix!, /Node\.js 20\.19/);
  });

  test('an unreadable version of a tool with a minimum is not taken as good', () => {
    const r = evaluate(spec('openssl'), { found: true, output: 'garbage' }, opts);
    assert.equal(r.ok, false);
    assert.match(r.problem!, /cannot read its version/);
  });

  test('lab tools are required only with --lab', () => {
    const missing = { found: false, output: '' };
    const plain = evaluate(spec('debootstrap'), missing, { lab: false });
    const lab = evaluate(spec('debootstrap'), missing, { lab: true });
    assert.equal(allRequiredOk([plain]), true);
    assert.equal(allRequiredOk([lab]), false);
    assert.equal(lab.fix, 'apt-get install -y debootstrap');
  });

  test('the report lists each problem with its fix and a closing verdict', () => {
    const rs = [
      evaluate(spec('nats-server'), { found: false, output: '' }, opts),
      evaluate(spec('openssl'), { found: true, path: '/usr/bin/openssl', output: 'OpenSSL 3.0.15 3 Sep 2024' }, opts),
    ];
    const text = formatReport(rs);
    assert.match(text, /MISSING\s+nats-server \(need >= 2\.10\)\s+not found/);
    assert.match(text, /fix: bash \/opt\/unibus\/scripts\/install-nats-server\.sh/);
    assert.match(text, /ok\s+openssl 3\.0\.15 \(need >= 1\.1\.1\)\s+\/usr\/bin\/openssl/);
    assert.match(text, /1 required item\(s\) missing/);
  });
});

describe('probing this machine', () => {
  test('the running node is probed as itself', async () => {
    const p = await probe(spec('node'));
    assert.equal(p.output, process.version);
  });

  test('a tool that is not there is reported not found', async () => {
    const p = await probe({ id: 'x', command: 'unibus-no-such-tool', versionArgs: ['--version'], group: 'controller' });
    assert.deepEqual(p, { found: false, output: '' });
  });

  test('the real nats-server on this controller is found and new enough', async (t) => {
    if (!findOnPath('nats-server')) {
      // scripts/setup.sh installs it, so in CI its absence is a failure, not a skip.
      if (process.env.CI === 'true') assert.fail('no nats-server on this machine after scripts/setup.sh');
      return t.skip('no nats-server here: scripts/setup.sh installs it');
    }
    const r = evaluate(spec('nats-server'), await probe(spec('nats-server')), { lab: false });
    assert.equal(r.ok, true, r.problem);
    assert.ok(compareVersions(r.version!, '2.10') >= 0);
  });

  test('doctor refuses an unknown argument with exit 2', async () => {
    assert.equal(await run(['--frobnicate']), 2);
  });
});
