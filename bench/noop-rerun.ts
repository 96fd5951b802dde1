// A no-op re-run of the 20-task sample play (test/e2e/fixtures-runner) on 3
// and on 12 lab hosts: wall time of `unibus play site` as a user runs it (a
// fresh node process through tsx, connect, lease, plan, audit, release),
// median of 5 after one converging run. Targets: < 1.0 s (3), < 1.5 s (12).
//
//   node --import tsx bench/noop-rerun.ts [3] [12]
//
// Also reports the in-process figure (runPlaybook only, without node/tsx
// start-up), which is what the runner itself costs.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLab, labSsh, type LabInfo } from '../test/lab/lab.js';
import { takeExclusive } from '../test/harness/exclusive.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = "import('./src/cli/main.ts').then((m) => m.main(process.argv.slice(1))).then((c) => process.exit(c))";
const STATE = '/var/lib/unibus-runner-bench';

// Hosts from the 4th on: other lab tests reboot hosts 1-3 for their own purposes.
const FIRST = 3;
const ours = (lab: LabInfo, n: number) => lab.hosts.slice(FIRST, FIRST + n);

function inventory(lab: LabInfo, n: number, file: string): void {
  const nodes = ours(lab, n).map((h) => `  - name: ${h.name}\n    host: ${h.ip}\n    public_ip: ${h.ip}\n`).join('');
  writeFileSync(file, `cluster:\n  name: bench\n  kv_replicas: 3\n  state_dir: ${STATE}\ndefaults:\n  connection: ssh\n  user: root\n  identity_file: ${lab.identityFile}\n  vars:\n    known_hosts: ${lab.knownHostsFile}\nnodes:\n${nodes}`);
}

/**
 * The CLI as installed: src/ compiled file by file to JavaScript (what
 * `npm run build` puts in dist/; esbuild here, so that other parts being
 * edited do not stop the bench), run by plain node.
 */
function buildCli(dir: string): string {
  const files = spawnSync('find', ['src', '-name', '*.ts'], { cwd: ROOT, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  const r = spawnSync(join(ROOT, 'node_modules/.bin/esbuild'), [...files, '--platform=node', '--format=esm', `--outdir=${join(dir, 'src')}`, '--log-level=error'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`esbuild failed: ${r.stderr}`);
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const entry = join(dir, 'entry.js');
  writeFileSync(entry, `import { main } from './src/cli/main.js';\nprocess.exitCode = await main(process.argv.slice(2));\n`);
  return entry;
}

function runCli(inv: string, entry?: string): { ms: number; code: number | null; out: string } {
  const t0 = performance.now();
  const argv = entry ? [entry, 'play', 'site', '-i', inv, '--json'] : ['--import', 'tsx', '-e', ENTRY, 'play', 'site', '-i', inv, '--json'];
  const r = spawnSync(process.execPath, argv, { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { ms: performance.now() - t0, code: r.status, out: r.stdout.split('\n').filter(Boolean).at(-1) ?? r.stderr };
}

async function inProcess(inv: string): Promise<number> {
  const { loadInventory } = await import('../src/inventory/load.js');
  const { loadPlaybook } = await import('../src/playbook/load.js');
  const { runPlaybook } = await import('../src/playbook/execute.js');
  const { defaultToolkit } = await import('../src/playbook/toolkit.js');
  const { connectNode } = await import('../src/transport/connect.js');
  const { LocalTransport } = await import('../src/transport/local.js');
  const { hostVars } = await import('../src/inventory/vars.js');
  const t0 = performance.now();
  const inventory = loadInventory(inv);
  const projectDir = join(inv, '..');
  const out = await runPlaybook({
    playbook: loadPlaybook('site', { projectDir }), playbookName: 'site', inventory, check: false, toolkit: defaultToolkit(),
    connect: (node) => connectNode(node, { knownHosts: String(node.vars.known_hosts), projectDir, acceptNew: false }),
    controller: () => new LocalTransport('controller'),
    pathsOf: (node) => ({ stateDir: String(hostVars(inventory, node).state_dir), logDir: '/var/log/unibus' }),
    baseDirs: [projectDir], emit: () => undefined,
  });
  const ms = performance.now() - t0;
  const changed = [...out.recap.hosts.values()].reduce((a, c) => a + c.changed + c.failed + c.unreachable, 0);
  if (changed) throw new Error(`in-process re-run was not a no-op: ${JSON.stringify(out.recap.toJSON())}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function bench(n: number): Promise<void> {
  mkdirSync(join(ROOT, '.unibus'), { recursive: true });
  const exclusive = await takeExclusive('unibus-runner-lab');
  const lab = await ensureLab(FIRST + n);
  const project = mkdtempSync(join(tmpdir(), 'unibus-bench-'));
  try {
    cpSync(join(ROOT, 'test/e2e/fixtures-runner'), project, { recursive: true });
    const inv = join(project, 'inventory.yaml');
    inventory(lab, n, inv);
    const converge = runCli(inv);
    if (converge.code !== 0) throw new Error(`converging run failed (exit ${converge.code}): ${converge.out}`);
    // Inside the project (.unibus/ is gitignored) so that the bundle's bare imports resolve to node_modules.
    const bundleDir = mkdtempSync(join(ROOT, '.unibus', 'bench-'));
    const entry = buildCli(bundleDir);
    const measure = (e?: string) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = runCli(inv, e);
        if (r.code !== 0 || !/"changed":0,"failed":0/.test(r.out) || /"changed":[1-9]/.test(r.out)) throw new Error(`re-run ${i} was not a clean no-op: ${r.out}`);
        times.push(r.ms);
      }
      return times;
    };
    const bundled = measure(entry);
    rmSync(bundleDir, { recursive: true, force: true });
    const cli = measure();
    const inproc: number[] = [];
    for (let i = 0; i < 5; i++) inproc.push(await inProcess(inv));
    const fmt = (xs: number[]) => `median ${(median(xs) / 1000).toFixed(3)} s  (runs: ${xs.map((x) => (x / 1000).toFixed(2)).join(', ')})`;
    console.log(`${n} hosts, 20-task no-op re-run`);
    console.log(`  unibus play, built CLI:    ${fmt(bundled)}`);
    console.log(`  unibus play through tsx:   ${fmt(cli)}`);
    console.log(`  runPlaybook in process:    ${fmt(inproc)}`);
  } finally {
    await Promise.all(ours(lab, n).map((h) => labSsh(lab, h, `systemctl disable --now unibus-demo >/dev/null 2>&1; rm -rf /opt/unibus-demo /etc/unibus-demo.env /etc/systemd/system/unibus-demo.service /var/log/unibus-demo ${STATE}; systemctl daemon-reload`).catch(() => undefined)));
    rmSync(project, { recursive: true, force: true });
    exclusive.release();
  }
}

const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0);
for (const n of sizes.length ? sizes : [3, 12]) await bench(n);
