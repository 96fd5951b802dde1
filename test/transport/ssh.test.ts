import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { getModule } from '../../src/modules/index.js';
import { runCommands } from '../../src/modules/run.js';
import { Secret } from '../../src/secret.js';
import { createServer, type AddressInfo } from 'node:net';
import { ExecTimeoutError, HostKeyError, TransportError } from '../../src/transport/errors.js';
import { SshTransport } from '../../src/transport/ssh.js';
import { keygen, startSshd, type TestSshd } from '../harness/sshd.js';
import { DirectReader } from '../../src/modules/facts/read.js';
import { LazyLocalTransport } from '../../src/transport/connect.js';

let sshd: TestSshd;
let t: SshTransport;
let known: string;

before(async () => {
  sshd = await startSshd();
  known = join(sshd.dir, 'known_hosts');
  writeFileSync(known, sshd.knownLine, { mode: 0o600 });
  t = await SshTransport.connect({ name: 'n1', host: '127.0.0.1', port: sshd.port, user: 'root', identityFile: sshd.clientKey, knownHostsFile: known });
});
after(async () => {
  await t?.close();
  await sshd?.stop();
});

const opts = () => ({ name: 'n1', host: '127.0.0.1', port: sshd.port, user: 'root', identityFile: sshd.clientKey });

describe('ssh transport on a real sshd', () => {
  it('runs argv exactly, with exit code, stderr and cwd', async () => {
    const r = await t.exec({ argv: ['printf', '%s|', 'a b', '$HOME', "it's", '*', ';rm -rf /x', ''] });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "a b|$HOME|it's|*|;rm -rf /x||");
    const r2 = await t.exec({ argv: ['sh', '-c', 'pwd; echo e >&2; exit 5'], cwd: sshd.dir });
    assert.deepEqual([r2.code, r2.stdout.trim(), r2.stderr.trim()], [5, sshd.dir, 'e']);
  });

  it('streams stdin: binary and a Secret', async () => {
    const bin = Buffer.from([0, 255, 10, 1, 2]);
    const r = await t.exec({ argv: ['sha256sum'], stdin: bin });
    assert.equal(r.stdout.slice(0, 64), createHash('sha256').update(bin).digest('hex'));
    assert.equal((await t.exec({ argv: ['cat'], stdin: new Secret('top secret') })).stdout, 'top secret');
    assert.equal((await t.exec({ argv: ['cat'] })).stdout, '');
  });

  it('puts atomically with mode and owner, and gets the exact bytes back', async () => {
    const p = join(sshd.dir, "dest file's.bin");
    const bytes = Buffer.from([0xff, 0xfe, 0, 1, 0x80, 10]);
    await t.put(p, bytes, { mode: 0o640, owner: 'nobody', group: 'nogroup' });
    assert.deepEqual(readFileSync(p), bytes);
    const st = spawnSync('stat', ['-c', '%a %U %G', p], { encoding: 'utf8' }).stdout.trim();
    assert.equal(st, '640 nobody nogroup');
    assert.deepEqual(await t.get(p), bytes);
    assert.equal(await t.get(join(sshd.dir, 'missing')), null);
    const left = spawnSync('sh', ['-c', `ls -a ${sshd.dir} | grep unibus- || true`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(left, '');
    await t.put(p, new Secret('s'));
    assert.equal(spawnSync('stat', ['-c', '%a', p], { encoding: 'utf8' }).stdout.trim(), '640', 'keeps mode');
  });

  it('a failing put leaves the old file and no temp', async () => {
    const p = join(sshd.dir, 'keep');
    writeFileSync(p, 'orig');
    await assert.rejects(t.put(p, Buffer.from('new'), { owner: 'no-such-user-xyz' }), /put .*keep failed/);
    assert.equal(readFileSync(p, 'utf8'), 'orig');
    const left = spawnSync('sh', ['-c', `ls -a ${sshd.dir} | grep unibus- || true`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(left, '');
  });

  it('kills the remote command on timeout', async () => {
    const pidFile = join(sshd.dir, 'remote.pid');
    await assert.rejects(
      t.exec({ argv: ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 30`], timeoutMs: 1000 }),
      (e: unknown) => e instanceof ExecTimeoutError,
    );
    const pid = readFileSync(pidFile, 'utf8').trim();
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
      alive = stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
      if (alive) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(alive, false);
    // the connection is still usable afterwards
    assert.equal((await t.exec({ argv: ['true'] })).code, 0);
  });

  it('the connection shell frames large and tricky output exactly', async () => {
    const big = await t.exec({ argv: ['sh', '-c', 'head -c 1000000 /dev/zero | tr "\\0" x; printf "\\nUNIBUS-0000 0 5 5\\n" >&2'] });
    assert.equal(big.code, 0);
    assert.equal(big.stdout.length, 1_000_000);
    assert.match(big.stderr, /^\nUNIBUS-0000 0 5 5\n$/);
    const exact = await t.exec({ argv: ['sh', '-c', `printf 'a\\0b\\n\\n'; printf 'no-newline' >&2`] });
    assert.equal(exact.stdout, 'a\0b\n\n');
    assert.equal(exact.stderr, 'no-newline');
    // commands never read the shell's own input stream
    assert.equal((await t.exec({ argv: ['cat'] })).stdout, '');
    assert.equal((await t.exec({ argv: ['echo', 'after'] })).stdout, 'after\n');
  });

  it('a killed connection shell is replaced on the next exec', async () => {
    // walk up to the long-lived `sh` (its cmdline is just "sh") and kill it
    const killer = `p=$PPID; while [ "$p" -gt 1 ]; do c=$(tr '\\0' ' ' </proc/$p/cmdline); if [ "$c" = "sh " ]; then kill -9 "$p"; sleep 5; fi; p=$(cut -d' ' -f4 /proc/$p/stat); done; exit 9`;
    await assert.rejects(t.exec({ argv: ['sh', '-c', killer], timeoutMs: 10_000 }), /remote shell ended/);
    const r = await t.exec({ argv: ['echo', 'again'] });
    assert.equal(r.stdout, 'again\n');
  });

  it('modules converge over ssh (fact script through the quoting)', async () => {
    const ctx = { transport: t, facts: new DirectReader(t), controller: new DirectReader(new LazyLocalTransport('controller')), vars: {}, check: false, baseDirs: [], render: () => '', host: 'n1' };
    const dest = join(sshd.dir, 'conf d', 'a b.conf');
    const dirPlan = await getModule('file').plan({ path: join(sshd.dir, 'conf d'), state: 'directory', mode: '0700' }, ctx);
    assert.equal((await runCommands(t, dirPlan.commands)).error, undefined);
    const p1 = await getModule('copy').plan({ dest, content: 'v=1\n', mode: '0600' }, ctx);
    assert.equal(p1.changed, true);
    assert.equal((await runCommands(t, p1.commands)).error, undefined);
    const p2 = await getModule('copy').plan({ dest, content: 'v=1\n', mode: '0600' }, ctx);
    assert.equal(p2.changed, false, p2.reason);
  });
});

describe('ssh host key checking', () => {
  it('refuses a host key mismatch, naming host, port and known_hosts file', async () => {
    const other = join(sshd.dir, 'other_host');
    keygen(other);
    const [type, b64] = readFileSync(other + '.pub', 'utf8').split(/\s+/);
    const file = join(sshd.dir, 'kh_mismatch');
    writeFileSync(file, `[127.0.0.1]:${sshd.port} ${type} ${b64}\n`);
    await assert.rejects(SshTransport.connect({ ...opts(), knownHostsFile: file, acceptNew: true }), (e: unknown) => {
      assert.ok(e instanceof HostKeyError);
      assert.equal(e.kind, 'mismatch');
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1 port ${sshd.port}`));
      assert.ok(e.message.includes(file));
      return true;
    });
    // accept-new never replaces a changed key
    assert.equal(readFileSync(file, 'utf8').split('\n').filter(Boolean).length, 1);
  });

  it('refuses an unknown host, and accept-new records it once', async () => {
    const file = join(sshd.dir, 'kh_empty');
    await assert.rejects(SshTransport.connect({ ...opts(), knownHostsFile: file }), (e: unknown) => e instanceof HostKeyError && e.kind === 'unknown');
    const c = await SshTransport.connect({ ...opts(), knownHostsFile: file, acceptNew: true });
    await c.close();
    const [, type, b64] = readFileSync(file, 'utf8').trim().split(/\s+/);
    assert.equal(`${type} ${b64}`, sshd.hostPub.split(/\s+/).slice(0, 2).join(' '));
    const again = await SshTransport.connect({ ...opts(), knownHostsFile: file });
    assert.equal((await again.exec({ argv: ['true'] })).code, 0);
    await again.close();
  });

  it('accepts a hashed known_hosts entry (ssh-keygen -H)', async () => {
    const file = join(sshd.dir, 'kh_hashed');
    writeFileSync(file, sshd.knownLine);
    const r = spawnSync('ssh-keygen', ['-H', '-f', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(readFileSync(file, 'utf8'), /^\|1\|/);
    const c = await SshTransport.connect({ ...opts(), knownHostsFile: file });
    await c.close();
  });
});

describe('ssh connection failures', () => {
  // the test's own timeout is what fails if connectTimeoutMs were not honoured (ssh2's default is 20 s)
  it('a server that never speaks SSH fails within the connect bound', { timeout: 10_000 }, async () => {
    const socks: import('node:net').Socket[] = [];
    const srv = createServer((s) => socks.push(s)).listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    const port = (srv.address() as AddressInfo).port;
    try {
      await assert.rejects(
        SshTransport.connect({ ...opts(), port, knownHostsFile: join(sshd.dir, 'known_hosts'), connectTimeoutMs: 1000 }),
        (e: unknown) => e instanceof TransportError && /cannot connect to root@127\.0\.0\.1 port \d+/.test(e.message),
      );
    } finally {
      socks.forEach((s) => s.destroy());
      srv.close();
    }
  });

  it('a key the server does not accept is refused', async () => {
    const other = join(sshd.dir, 'other_client');
    keygen(other);
    await assert.rejects(
      SshTransport.connect({ ...opts(), identityFile: other, knownHostsFile: join(sshd.dir, 'known_hosts') }),
      (e: unknown) => e instanceof TransportError && !(e instanceof HostKeyError) && /authentication/i.test(e.message),
    );
  });
});
