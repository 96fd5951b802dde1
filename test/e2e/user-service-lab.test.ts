// One node as a systemd *user* service on a lab host (service_manager:
// systemd-user), run by a non-root user over ssh. bringup checks first that
// the user lingers (these hosts have no polkit, so logind refuses a user its
// own linger: the play stops there, staging nothing, until root runs
// `loginctl enable-linger` once); then it installs the unit in
// ~/.config/systemd/user, enables and starts it, and the node keeps serving
// once every session of the user has ended. A
// second bringup changes nothing; status and verify read it; play stop
// stops it and keeps its data; bringup serves the same data again. Nothing
// runs as root: the user has no sudo. The host is put back as it was.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { UnibusClient, rawPublicKey } from '../../src/client/index.js';
import { DEFAULT_NATS_SERVER } from '../../src/inventory/nats-releases.js';
import { ensureLab, holdLabLock, labSsh, type LabInfo } from '../lab/lab.js';
import { describeOnLab } from '../lab/suite.js';
import { makeProject, unibus, type Project } from '../harness/project.js';
import { play, type PlayRun } from '../harness/play.js';
import { sleep } from '../../src/util/time.js';

const USER = 'unibus';
const HOME = `/home/${USER}`;
const why = (r: PlayRun) => `${r.stderr}\n${r.results.filter((x) => x.status === 'failed').map((x) => `${x.task} @ ${x.host}: ${x.reason}`).join('\n')}`;
const changedTasks = (r: PlayRun) => r.results.filter((x) => x.status === 'changed').map((x) => x.task);

/** What the operator sets up once as root: the user, able to log in with the controller's key; node; and pam_systemd, which a user's own systemd needs (the lab's minbase hosts lack it). */
const MAKE_USER = [
  `id -u ${USER} >/dev/null 2>&1 || useradd -m -s /bin/bash ${USER}`,
  `install -d -m 0700 -o ${USER} -g ${USER} ${HOME}/.ssh`,
  `install -m 0600 -o ${USER} -g ${USER} /root/.ssh/authorized_keys ${HOME}/.ssh/authorized_keys`,
  'DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs libpam-systemd >/dev/null',
  `! command -v sudo >/dev/null || ! sudo -l -U ${USER} 2>/dev/null | grep -q '(ALL'`,
].join(' && ');
// The user's manager and runtime folder units, stopped with the user, are left failed: reset, so the host is running again, not degraded.
const DROP_USER = `loginctl disable-linger ${USER} 2>/dev/null; loginctl terminate-user ${USER} 2>/dev/null; sleep 1; pkill -KILL -u ${USER} 2>/dev/null; userdel -r ${USER} 2>/dev/null; systemctl reset-failed; true`;

describeOnLab('one node as a systemd user service on the lab (non-root)', { timeout: 15 * 60_000 }, () => {
  let lab: LabInfo;
  let p: Project;
  let base: string[];
  let lock: ChildProcess | undefined;
  const seed = randomBytes(32);
  const host = () => lab.hosts[0]!;
  const ops = () => new UnibusClient({ baseUrl: `http://${host().ip}:8470`, handle: 'ops', seed });
  const inventory = () => [
    'cluster:',
    '  name: unibus-solo',
    '  ports: { http: 8470, nats: 4250, route: 6250 }',
    '  kv_replicas: 1',
    `  state_dir: ${HOME}/.local/state/unibus`,
    `  nats_server: { source: bundled, version: "${DEFAULT_NATS_SERVER}" }`,
    `  admin: { handle: ops, pubkeys: ["ed25519:${rawPublicKey(seed).toString('hex')}"] }`,
    'defaults:',
    '  connection: ssh',
    '  service_manager: systemd-user',
    `  user: ${USER}`,
    `  identity_file: ${lab.identityFile}`,
    `  vars: { known_hosts: ${lab.knownHostsFile} }`,
    'nodes:',
    `  - { name: ${host().name}, public_ip: ${host().ip} }`,
    '',
  ].join('\n');

  before(async () => {
    lab = await ensureLab(1);
    lock = await holdLabLock(lab);
    await labSsh(lab, host(), DROP_USER);
    const made = await labSsh(lab, host(), MAKE_USER);
    assert.equal(made.code, 0, `the user and node on ${host().name}: ${made.stderr}`);
    p = await makeProject(inventory(), []);
    writeFileSync(p.inventory, inventory());
    base = ['-i', p.inventory, '--json'];
  });
  after(async () => {
    if (lab && process.env.UNIBUS_LAB_KEEP !== '1') {
      await labSsh(lab, host(), DROP_USER);
      // The user's manager fails a moment after the user is gone: reset until the host runs clean, bounded 15 s.
      const state = await labSsh(lab, host(), 'for i in $(seq 30); do systemctl reset-failed; sleep 0.5; [ "$(systemctl is-system-running)" = running ] && break; done; systemctl is-system-running; systemctl --failed --no-legend');
      assert.equal(state.stdout.trim(), 'running', `${host().name} put back as it was: ${state.stdout}`);
    }
    await p?.cleanup();
    if (lock?.pid) process.kill(-lock.pid, 'SIGKILL');
  });

  test('bringup as the user: linger checked first, unit, started; it serves after every session ended; idempotent; stop and bringup keep the data', async () => {
    const LINGER = 'the user lingers, so the service outlives logins and starts at boot (systemd-user)';
    const check = await play(['bringup', ...base, '--check'], 300_000);
    assert.equal(check.code, 0, why(check));
    // These hosts have no polkit: logind refuses a user its own linger, and nothing is staged.
    const refused = await play(['bringup', ...base], 600_000);
    assert.notEqual(refused.code, 0);
    assert.match(why(refused), new RegExp(`${LINGER.replace(/[()]/g, '\\$&')} @ ${host().name}: .*Access denied`));
    assert.equal((await labSsh(lab, host(), `ls ${HOME}/.config/systemd/user ${HOME}/.local/state/unibus/${host().name}/app 2>&1 | grep -c 'No such file'`)).stdout.trim(), '2', 'no unit and no build staged');
    // The operator's one step as root; then the user does the rest.
    assert.equal((await labSsh(lab, host(), `loginctl enable-linger ${USER}`)).code, 0);
    const up = await play(['bringup', ...base], 600_000);
    assert.equal(up.code, 0, why(up));
    assert.equal(up.results.find((x) => x.task === LINGER)?.status, 'skipped', 'lingering already');
    const unit = await labSsh(lab, host(), `stat -c '%U %a' ${HOME}/.config/systemd/user/membershipd.service; loginctl show-user ${USER} -p Linger --value; systemctl --machine=${USER}@ --user is-enabled membershipd; systemctl --machine=${USER}@ --user is-active membershipd; ps -o user= -C nats-server | sort -u`);
    assert.deepEqual(unit.stdout.trim().split('\n'), [`${USER} 644`, 'yes', 'enabled', 'active', USER], unit.stderr);
    // Every ssh session of the user has ended by now: the lingering manager keeps the node.
    await sleep(3000);
    // (systemd counts the lingering manager itself as a session of class manager: not a login.)
    const sessions = await labSsh(lab, host(), 'loginctl list-sessions -j');
    const logins = (JSON.parse(sessions.stdout) as { user: string; class: string }[]).filter((x) => x.user === USER && !x.class.startsWith('manager'));
    assert.deepEqual(logins, [], 'no login session of the user left');
    await ops().createRoom('solo-room');
    const again = await play(['bringup', ...base], 600_000);
    assert.equal(again.code, 0, why(again));
    assert.deepEqual(changedTasks(again), [], 'a second bringup changes nothing');
    const v = await play(['verify', ...base], 120_000);
    assert.equal(v.code, 0, why(v));
    const st = await unibus(['status', '-i', p.inventory, '--json']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`"name":\\s*"${host().name}"`));
    const stop = await play(['stop', ...base]);
    assert.equal(stop.code, 0, why(stop));
    assert.match((await labSsh(lab, host(), `systemctl --machine=${USER}@ --user is-active membershipd; true`)).stdout, /inactive/);
    const back = await play(['bringup', ...base], 600_000);
    assert.equal(back.code, 0, why(back));
    assert.ok((await ops().listRooms()).rooms.includes('solo-room'), 'the data kept across stop and bringup');
  });
});
