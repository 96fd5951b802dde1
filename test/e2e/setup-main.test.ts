// The main job's set-up on a server reached over SSH: a lab host runs sshd
// under systemd, enabled, as an operator's server does. scripts/setup.sh's
// machine part (install-packages.sh; the rest is npm, which touches no
// service) runs there and must leave sshd running (the same process) and
// enabled, start or enable no other service, install a nats-server >= 2.10
// as a plain binary, and install none of the test lab's tools.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../lab/exec.js';
import { ensureLab, holdLabLock, labSsh, type LabHost, type LabInfo } from '../lab/lab.js';
import { describeOnLab } from '../lab/suite.js';
import { sshArgv } from '../lab/ssh.js';
import { ROOT } from '../harness/root.js';

const SCRIPTS = ['install-packages.sh', 'install-nats-server.sh', 'debian-mirror.sh', 'lib/apt.sh'];
const DIR = '/root/unibus-setup-test';
// Left as it was for the lab tests that deploy Debian's own package.
const UNDO = `rm -rf ${DIR} /usr/local/bin/nats-server /usr/local/bin/.nats-server.new`;

test('the main set-up runs no systemctl and no apt itself: its machine part is install-packages.sh', () => {
  const setup = readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8').replace(/^\s*#.*$/gm, '');
  assert.doesNotMatch(setup, /systemctl|service |apt-get|dpkg /);
  assert.match(setup, /^bash scripts\/install-packages\.sh$/m);
  const packages = readFileSync(join(ROOT, 'scripts/install-packages.sh'), 'utf8').replace(/^\s*#.*$/gm, '');
  assert.doesNotMatch(packages, /systemctl|debootstrap|systemd-container|dpkg-dev|openssh-server/);
});

describeOnLab('main set-up on a server with sshd under systemd', { timeout: 10 * 60_000 }, () => {
  let lab: LabInfo;
  let h: LabHost;
  let lock: ChildProcess | undefined;
  const ssh = (cmd: string, timeoutMs?: number) => labSsh(lab, h, cmd, timeoutMs);
  /** What systemd runs and enables, and sshd's own state and process. */
  const services = async () => {
    const r = await ssh(
      'systemctl is-active ssh; systemctl is-enabled ssh; systemctl show -p MainPID --value ssh; echo --; ' +
        'systemctl list-units --type=service --state=running --no-legend --plain | cut -d" " -f1 | sort; echo --; ' +
        'systemctl list-unit-files --state=enabled --no-legend | cut -d" " -f1 | sort',
    );
    assert.equal(r.code, 0, r.stderr);
    const [ssh_, running, enabled] = r.stdout.split('--\n');
    const [active, isEnabled, pid] = ssh_!.trim().split('\n');
    return { active, isEnabled, pid, running: running!.trim(), enabled: enabled!.trim() };
  };

  before(async () => {
    lab = await ensureLab(3);
    lock = await holdLabLock(lab);
    h = lab.hosts[2]!;
    await ssh(UNDO);
  });
  after(async () => {
    if (lab) await ssh(UNDO);
    if (lock?.pid) process.kill(-lock.pid, 'SIGKILL');
  });

  test('sshd stays running (same process) and enabled; no service is started or enabled; nats-server is a plain binary', async () => {
    const before = await services();
    assert.deepEqual([before.active, before.isEnabled], ['active', 'enabled'], 'the host runs an enabled sshd to begin with');
    assert.match(before.pid ?? '', /^[1-9]\d*$/);

    for (const f of SCRIPTS) {
      const text = readFileSync(join(ROOT, 'scripts', f), 'utf8');
      const r = await run(sshArgv(h, lab.knownHostsFile, `mkdir -p ${DIR}/scripts/lib && cat > ${DIR}/scripts/${f}`), { input: text, allowFail: true });
      assert.equal(r.code, 0, r.stderr);
    }
    // Debian's own nats-server (another test may have installed it) is hidden
    // from PATH, so the script takes its download path every time.
    const r = await ssh(`cd ${DIR} && PATH=/usr/local/bin:/usr/bin:/bin bash scripts/install-packages.sh`, 300_000);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /nats-server 2\.\d+\.\d+ at \/usr\/local\/bin\/nats-server/);

    const after = await services();
    assert.deepEqual([after.active, after.isEnabled, after.pid], ['active', 'enabled', before.pid], 'sshd untouched');
    assert.equal(after.running, before.running, 'no service started or stopped');
    assert.equal(after.enabled, before.enabled, 'no service enabled or disabled');
    const lab_ = await ssh("for p in debootstrap systemd-container dpkg-dev; do dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'install ok installed' && echo $p; done; true");
    assert.equal(lab_.stdout.trim(), '', 'no lab tool installed');
    const v = await ssh('/usr/local/bin/nats-server --version; stat -c %a /usr/local/bin/nats-server');
    assert.match(v.stdout, /^nats-server: v2\.(1\d|[2-9]\d)\.\d+\n755\n$/);

    // A second run finds the binary and does nothing.
    const again = await ssh(`cd ${DIR} && PATH=/usr/local/bin:/usr/bin:/bin bash scripts/install-packages.sh`, 120_000);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), `nats-server ${/: v(\S+)/.exec(v.stdout)![1]} at /usr/local/bin/nats-server`);
  });
});
