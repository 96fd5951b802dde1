// Cluster playbooks on 3 lab hosts (systemd, ssh, apt from the lab repository):
//   1. bringup from fresh hosts to verified (state and unit removed first;
//      with --purge-packages nodejs and nats-server are removed too, so the
//      apt installs are part of the figure)
//   2. a no-op re-run of bringup (target: under 1.5 s), median of 5
//   3. a rolling restart of the 3 nodes, median of 3
// Run by hand: node --import tsx bench/cluster-bringup.ts [--purge-packages]
// The hosts are cleaned again at the end (no unit, no state).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { rawPublicKey } from '../src/client/index.js';
import { ensureLab, labSsh, type LabInfo } from '../test/lab/lab.js';
import { makeProject } from '../test/harness/project.js';
import { play } from '../test/harness/play.js';

const CLEAN = 'systemctl disable --now membershipd 2>/dev/null; rm -f /etc/systemd/system/membershipd.service; systemctl daemon-reload; rm -rf /var/lib/unibus; true';
const PURGE = 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -q nodejs nats-server >/dev/null 2>&1; true';

function inventory(lab: LabInfo): string {
  const pub = rawPublicKey(randomBytes(32)).toString('hex');
  return [
    'cluster:', '  name: unibus-bench', '  kv_replicas: 3', '  state_dir: /var/lib/unibus',
    `  admin: { handle: ops, pubkeys: ["ed25519:${pub}"] }`,
    'defaults:', '  connection: ssh', '  service_manager: systemd', `  identity_file: ${lab.identityFile}`, `  vars: { known_hosts: ${lab.knownHostsFile} }`,
    'nodes:', ...lab.hosts.slice(0, 3).map((h) => `  - { name: ${h.name}, public_ip: ${h.ip} }`), '',
  ].join('\n');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(args: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await play(args, 900_000);
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`play ${args[0]} failed (${r.code}): ${r.stderr}\n${r.results.filter((x) => x.status === 'failed').map((x) => `${x.task} @ ${x.host}: ${x.reason}`).join('\n')}`);
  return ms;
}

const lab = await ensureLab(3);
const hosts = lab.hosts.slice(0, 3);
const purge = process.argv.includes('--purge-packages');
await Promise.all(hosts.map((h) => labSsh(lab, h, purge ? `${CLEAN}; ${PURGE}` : CLEAN)));
const p = await makeProject(inventory(lab), []);
writeFileSync(p.inventory, inventory(lab));
const base = ['-i', p.inventory, '--json'];
try {
  const fresh = await timed(['bringup', ...base]);
  const noop: number[] = [];
  for (let i = 0; i < 5; i++) noop.push(await timed(['bringup', ...base]));
  const restart: number[] = [];
  for (let i = 0; i < Number(process.env.RESTARTS ?? 3); i++) restart.push(await timed(['restart', ...base]));
  console.log(`bringup from fresh hosts to verified${purge ? ' (apt installs included)' : ' (packages already installed)'}: ${(fresh / 1000).toFixed(1)} s`);
  console.log(`no-op bringup re-run: median ${(median(noop) / 1000).toFixed(2)} s of ${noop.map((x) => (x / 1000).toFixed(2)).join(', ')} (target < 1.5 s)`);
  console.log(`rolling restart of 3 nodes: median ${(median(restart) / 1000).toFixed(1)} s of ${restart.map((x) => (x / 1000).toFixed(1)).join(', ')}`);
} catch (err) {
  // What the nodes said when a step failed, before the hosts are cleaned.
  for (const h of hosts) {
    const r = await labSsh(lab, h, `node -e 'fetch("http://${h.ip}:8470/healthz", { signal: AbortSignal.timeout(3000) }).then((r) => r.text()).then(console.log, console.log)'; journalctl -u membershipd --no-pager -n 25 -o cat`);
    console.log(`--- ${h.name}\n${r.stdout}`);
  }
  throw err;
} finally {
  await Promise.all(hosts.map((h) => labSsh(lab, h, CLEAN)));
  await p.cleanup();
}
