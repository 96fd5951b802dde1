// No-op plan of 20 tasks on 3 hosts over real SSH (three loopback sshds),
// each host's tasks in order, hosts in parallel: the module + transport share
// of a no-op run. Run by hand: node --import tsx bench/modules-noop.ts
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { getModule } from '../src/modules/index.js';
import { runCommands } from '../src/modules/run.js';
import type { ModuleContext } from '../src/modules/types.js';
import { SshTransport } from '../src/transport/ssh.js';
import { writeFileSync } from 'node:fs';
import { startSshd, type TestSshd } from '../test/harness/sshd.js';
import { DirectReader } from '../src/modules/facts/read.js';
import { LazyLocalTransport } from '../src/transport/connect.js';

const HOSTS = Number(process.env.HOSTS ?? 3);
const RUNS = 5;

function tasks(root: string): [string, Record<string, unknown>][] {
  const t: [string, Record<string, unknown>][] = [];
  for (let i = 0; i < 4; i++) t.push(['file', { path: join(root, `d${i}`), state: 'directory', mode: '0750' }]);
  for (let i = 0; i < 8; i++) t.push(['copy', { dest: join(root, `d${i % 4}`, `f${i}.conf`), content: `key=${i}\n`.repeat(50), mode: '0640' }]);
  t.push(['package', { name: ['coreutils>=8.0', 'dpkg'] }]);
  t.push(['package', { name: 'openssh-server' }]);
  for (let i = 0; i < 3; i++) t.push(['command', { argv: ['touch', join(root, `m${i}`)], creates: join(root, `m${i}`) }]);
  t.push(['file', { path: join(root, 'gone'), state: 'absent' }]);
  t.push(['assert', { that: [true] }]);
  t.push(['set_fact', { x: 1 }]);
  return t;
}

async function planAll(hosts: { t: SshTransport; root: string }[], apply: boolean): Promise<number> {
  let changed = 0;
  await Promise.all(
    hosts.map(async ({ t, root }) => {
      const ctx: ModuleContext = { transport: t, facts: new DirectReader(t), controller: new DirectReader(new LazyLocalTransport('controller')), vars: {}, check: !apply, baseDirs: [], render: () => '', host: t.host };
      for (const [mod, args] of tasks(root)) {
        const plan = await getModule(mod).plan(args, ctx);
        if (plan.changed) changed++;
        if (apply && plan.commands.length) {
          const out = await runCommands(t, plan.commands);
          if (out.error) throw out.error;
        }
      }
    }),
  );
  return changed;
}

const sshds: TestSshd[] = [];
const conns: SshTransport[] = [];
try {
  for (let i = 0; i < HOSTS; i++) sshds.push(await startSshd());
  const hosts = [];
  for (const [i, s] of sshds.entries()) {
    const known = join(s.dir, 'known_hosts');
    writeFileSync(known, s.knownLine);
    const t = await SshTransport.connect({ name: `n${i}`, host: '127.0.0.1', port: s.port, user: 'root', identityFile: s.clientKey, knownHostsFile: known });
    conns.push(t);
    const root = join(s.dir, 'tree');
    mkdirSync(root);
    hosts.push({ t, root });
  }
  console.log(`first apply: ${await planAll(hosts, true)} changes`);
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    const changed = await planAll(hosts, true);
    times.push(performance.now() - t0);
    if (changed) throw new Error(`no-op run reported ${changed} changes`);
  }
  times.sort((a, b) => a - b);
  console.log(`no-op 20 tasks x ${HOSTS} hosts over ssh: median ${times[Math.floor(RUNS / 2)]!.toFixed(0)} ms (runs: ${times.map((x) => x.toFixed(0)).join(', ')})`);
} finally {
  for (const c of conns) await c.close();
  for (const s of sshds) await s.stop();
}
