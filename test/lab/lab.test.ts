// Smoke test of the multi-host lab: 3 real Debian 13 hosts answer over ssh with
// strict host-key checking, boot to `running`, are distinct machines on the lab
// network only, and install nats-server with apt from the local repository.
import assert from 'node:assert/strict';
import { shippedVersions } from '../../src/inventory/nats-releases.js';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { run, waitFor } from './exec.js';
import { ensureLab, labSsh, waitRunning, type LabInfo } from './lab.js';
import { describeOnLab } from './suite.js';
import { sshArgv } from './ssh.js';
import { INSTANCE } from './state.js';


describeOnLab('lab smoke (3 hosts)', { timeout: 25 * 60_000 }, () => {
  let lab: LabInfo;
  let scratch: string;

  before(async () => {
    lab = await ensureLab(3);
    scratch = mkdtempSync(join(tmpdir(), 'ublab-test-'));
  });
  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('the lab has at least 3 hosts on 10.99.N.0/24 with a 0600 key', () => {
    assert.ok(lab.hosts.length >= 3, `hosts: ${lab.hosts.length}`);
    for (const h of lab.hosts) assert.match(h.ip, new RegExp(`^10\\.99\\.${INSTANCE}\\.\\d+$`));
    assert.equal(statSync(lab.identityFile).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(lab.identityFile)).mode & 0o777, 0o700);
  });

  test('each host answers over ssh with strict host-key checking and is running', async () => {
    for (const h of lab.hosts.slice(0, 3)) {
      const r = await labSsh(lab, h, 'hostname; timeout 60 systemctl is-system-running --wait', 90_000);
      assert.equal(r.code, 0, `${h.name}: ${r.stderr}${r.stdout}`);
      assert.deepEqual(r.stdout.trim().split('\n'), [h.name, 'running']);
    }
  });

  test('hosts are distinct machines: own machine-id and ssh host key', async () => {
    const ids = new Set<string>();
    const keys = new Set<string>();
    for (const h of lab.hosts.slice(0, 3)) {
      const r = await labSsh(lab, h, 'cat /etc/machine-id; cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub');
      assert.equal(r.code, 0, r.stderr);
      const [id, key] = r.stdout.trim().split('\n');
      assert.match(id ?? '', /^[0-9a-f]{32}$/);
      ids.add(id!);
      keys.add(key!);
    }
    assert.equal(ids.size, 3);
    assert.equal(keys.size, 3);
  });

  test('hosts reach each other and have no route out of the lab', async () => {
    const [a, b] = lab.hosts;
    const r = await labSsh(lab, a!, `timeout 5 bash -c '</dev/tcp/${b!.ip}/22' && echo open; ip -4 route show default | wc -l`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['open', '0']);
  });

  test('a host with an unknown or wrong host key is refused', async () => {
    const h = lab.hosts[0]!;
    const empty = join(scratch, 'known_hosts.empty');
    writeFileSync(empty, '');
    const r1 = await run(sshArgv(h, empty, 'true'), { allowFail: true, timeoutMs: 30_000 });
    assert.equal(r1.code, 255);
    assert.match(r1.stderr, /Host key verification failed/);

    // Host 2's real keys filed under host 1's address: must be refused, not learned.
    const other = readFileSync(lab.knownHostsFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith(`${lab.hosts[1]!.ip},`))
      .map((l) => l.replace(/^\S+/, h.ip));
    assert.ok(other.length > 0);
    const wrong = join(scratch, 'known_hosts.wrong');
    writeFileSync(wrong, other.join('\n') + '\n');
    const r2 = await run(sshArgv(h, wrong, 'true'), { allowFail: true, timeoutMs: 30_000 });
    assert.equal(r2.code, 255);
    assert.match(r2.stderr, /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.equal(readFileSync(wrong, 'utf8'), other.join('\n') + '\n', 'known_hosts must not be rewritten');
  });

  test('a host that reboots comes back (nspawn exit 133 restarts it)', async () => {
    const h = lab.hosts[2]!;
    const bootId = async () => (await labSsh(lab, h, 'cat /proc/sys/kernel/random/boot_id', 15_000)).stdout.trim();
    const before = await bootId();
    assert.match(before, /^[0-9a-f-]{36}$/);
    await labSsh(lab, h, 'systemctl reboot', 15_000);
    const after = await waitFor('the host to boot again', 90_000, async () => {
      const id = await bootId();
      return id && id !== before ? id : undefined;
    }, 500);
    assert.notEqual(after, before);
    await waitRunning(lab, h);
    const r = await labSsh(lab, h, 'systemctl is-system-running', 30_000);
    assert.equal(r.stdout.trim(), 'running');
  });

  test('apt offers every nats-server release unibus ships from the local repository only, and installs the newest', async () => {
    const h = lab.hosts[0]!;
    const src = await labSsh(lab, h, 'cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v "^#"');
    assert.deepEqual(src.stdout.trim().split('\n'), ['deb [trusted=yes] file:/srv/repo ./']);
    // Another test may have installed it on this shared host: then leave it installed.
    const had = (await labSsh(lab, h, "dpkg-query -W -f='${Status}' nats-server 2>/dev/null")).stdout.includes('install ok installed');
    const apt = 'DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120';
    try {
      const r = await labSsh(lab, h, `${apt} update && ${apt} install --reinstall nats-server && nats-server --version && apt-cache madison nats-server`, 300_000);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const newest = shippedVersions().at(-1)!;
      assert.match(r.stdout, new RegExp(`nats-server: v${newest.replace(/\./g, '\\.')}\\b`), 'the newest release installed');
      assert.match(r.stdout, /file:\/srv\/repo/, 'apt read the local repository');
      for (const v of shippedVersions()) assert.match(r.stdout, new RegExp(`nats-server \\| +${v.replace(/\./g, '\\.')}-\\S+ \\| file:/srv/repo`), `the repository offers ${v}`);
    } finally {
      // Leave the shared lab as it was for the tests that deploy to it.
      if (!had) await labSsh(lab, h, `${apt} purge nats-server && ${apt} autoremove`, 300_000);
    }
    if (had) return;
    const gone = await labSsh(lab, h, 'command -v nats-server || echo absent');
    assert.equal(gone.stdout.trim(), 'absent');
  });
});
