// What the cluster tests on the lab share: the inventory of a lab cluster,
// and the command that puts a host back as it was (no unit, no state).
import type { LabHost, LabInfo } from './lab.js';

export const CLEAN = 'systemctl disable --now membershipd 2>/dev/null; rm -f /etc/systemd/system/membershipd.service; systemctl unmask nats-server.service 2>/dev/null; systemctl daemon-reload; rm -rf /var/lib/unibus; true';

/** Whether a host has Debian's nats-server package installed (a test that installs it purges it again when it had not). */
export const HAS_NATS_PACKAGE = "dpkg-query -W -f='${Status}' nats-server 2>/dev/null | grep -q 'install ok installed' && echo yes || echo no";
export const PURGE_NATS_PACKAGE = 'DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120 purge nats-server && DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120 autoremove';

/** An inventory of `hosts` as systemd nodes over ssh, at `kvReplicas`, on the bundled nats-server `nats` (or, for 'debian' or 'debian=<version>', the hosts' own package from the lab repository, pinned when a version is given), with `adminPub` as the first admin (ops). */
export function labInventory(lab: LabInfo, hosts: LabHost[], o: { kvReplicas: number; adminPub: string; nats: string }): string {
  return [
    'cluster:',
    '  name: unibus-lab',
    '  ports: { http: 8470, nats: 4250, route: 6250 }',
    `  kv_replicas: ${o.kvReplicas}`,
    '  state_dir: /var/lib/unibus',
    o.nats === 'debian' ? '  nats_server: { source: debian }' : o.nats.startsWith('debian=') ? `  nats_server: { source: debian, version: "${o.nats.slice(7)}" }` : `  nats_server: { source: bundled, version: "${o.nats}" }`,
    `  admin: { handle: ops, pubkeys: ["ed25519:${o.adminPub}"] }`,
    'defaults:',
    '  connection: ssh',
    '  service_manager: systemd',
    '  user: root',
    `  identity_file: ${lab.identityFile}`,
    `  vars: { known_hosts: ${lab.knownHostsFile} }`,
    'nodes:',
    ...hosts.map((h) => `  - { name: ${h.name}, public_ip: ${h.ip} }`),
    '',
  ].join('\n');
}
