// Bad inventories: each must be refused with the right message at its exact file:line:col.
import { test } from 'node:test';
import { HANDLE_EXPECTED, SIGN_PUB_TEXT_EXPECTED } from '../../src/protocol/model.js';
import { loadInventory } from '../../src/inventory/load.js';
import { assertConfigError, catchConfigErrors, type Expected } from '../fixtures/expect-config.js';

const FILE = '/virtual/inventory.yaml';

interface Case {
  name: string;
  yaml: string;
  want: Expected[];
}

const cases: Case[] = [
  {
    name: 'unknown top-level key',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\nextra: 1\n',
    want: [{ line: 6, col: 1, msg: "unknown key 'extra' (expected one of: cluster, defaults, nodes)", path: 'extra' }],
  },
  {
    name: 'unknown cluster key (typo)',
    yaml: 'cluster:\n  name: t\n  kv_replica: 1\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 3, col: 3, msg: "unknown key 'kv_replica'", path: 'cluster.kv_replica' }],
  },
  {
    name: 'unknown node key',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    adress: x\n',
    want: [{ line: 6, col: 5, msg: "unknown key 'adress'", path: 'nodes[0].adress' }],
  },
  {
    name: 'ssh port given as a string',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    port: "22"\n',
    want: [{ line: 6, col: 11, msg: 'wrong type: got string "22" (expected a TCP port number 1-65535 (SSH port))', path: 'nodes[0].port' }],
  },
  {
    name: 'kv_replicas as a word',
    yaml: 'cluster:\n  name: t\n  kv_replicas: three\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 3, col: 16, msg: 'wrong type: got string "three"', path: 'cluster.kv_replicas' }],
  },
  {
    name: 'placeholder left in public_ip',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: <NODE1_PUBLIC_IP>\n',
    want: [{ line: 5, col: 16, msg: 'placeholder <NODE1_PUBLIC_IP> left in value', path: 'nodes[0].public_ip' }],
  },
  {
    name: 'placeholder left in a var',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    vars:\n      admin_email: "ops@<DOMAIN>"\n',
    want: [{ line: 7, col: 20, msg: 'placeholder <DOMAIN>', path: 'nodes[0].vars.admin_email' }],
  },
  {
    name: 'systemd-user as root',
    yaml: 'cluster:\n  name: t\n  state_dir: /home/u/.local/state/unibus\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    service_manager: systemd-user\n',
    want: [{ line: 7, col: 22, msg: "node 'a': systemd-user runs membershipd under its user's own service manager, and its user is root", path: 'nodes[0].service_manager' }],
  },
  {
    name: 'systemd-user from the defaults, with the debian nats-server and the default state_dir',
    yaml: 'cluster:\n  name: t\n  nats_server: { source: debian, version: "2.10.27" }\ndefaults:\n  user: unibus\n  service_manager: systemd-user\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [
      { line: 3, col: 26, msg: "node 'a' is a systemd-user node, and installing the host's nats-server package needs root", path: 'cluster.nats_server.source' },
      { line: 2, col: 3, msg: "node 'a' is a systemd-user node, and the default state_dir /var/lib/unibus is not its user's to write", path: 'cluster' },
    ],
  },
  {
    name: 'duplicate node name',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n  - name: a\n    public_ip: 10.0.0.2\n',
    want: [{ line: 6, col: 11, msg: "duplicate node name 'a' (already used by node 'a')", path: 'nodes[1].name' }],
  },
  {
    name: 'duplicate public_ip on ssh nodes',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n  - name: b\n    public_ip: 10.0.0.1\n    host: b.example\n',
    want: [{ line: 7, col: 16, msg: "duplicate public_ip 10.0.0.1 (already used by node 'a')", path: 'nodes[1].public_ip' }],
  },
  {
    name: 'duplicate wg_ip',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    wg_ip: 10.8.0.1\n  - name: b\n    public_ip: 10.0.0.2\n    wg_ip: 10.8.0.1\n',
    want: [{ line: 9, col: 12, msg: 'duplicate wg_ip 10.8.0.1', path: 'nodes[1].wg_ip' }],
  },
  {
    name: 'duplicate ssh host and port',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    host: jump.example\n  - name: b\n    public_ip: 10.0.0.2\n    host: jump.example\n',
    want: [{ line: 9, col: 11, msg: 'duplicate ssh address jump.example:22', path: 'nodes[1].host' }],
  },
  {
    name: 'two local nodes on one address with the same ports',
    yaml: 'cluster:\n  name: t\ndefaults:\n  connection: local\nnodes:\n  - name: a\n    public_ip: 127.0.0.1\n  - name: b\n    public_ip: 127.0.0.1\n',
    want: [{ line: 8, col: 11, msg: 'two listeners on 127.0.0.1:8470: a http and b http', path: 'nodes[1].name' }],
  },
  {
    name: 'a port override colliding with another listener',
    yaml:
      'cluster:\n  name: t\ndefaults:\n  connection: local\nnodes:\n  - name: a\n    public_ip: 127.0.0.1\n  - name: b\n    public_ip: 127.0.0.1\n' +
      '    vars:\n      http_port: 4250\n      nats_port: 4251\n      route_port: 6251\n',
    want: [{ line: 11, col: 18, msg: 'two listeners on 127.0.0.1:4250: a nats and b http', path: 'nodes[1].vars.http_port' }],
  },
  {
    name: 'route_network wg with a node lacking wg_ip',
    yaml: 'cluster:\n  name: t\n  route_network: wg\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    wg_ip: 10.8.0.1\n  - name: b\n    public_ip: 10.0.0.2\n',
    want: [{ line: 8, col: 5, msg: "node 'b' has no wg_ip but cluster.route_network is wg", path: 'nodes[1]' }],
  },
  {
    name: 'no nodes',
    yaml: 'cluster:\n  name: t\nnodes: []\n',
    want: [{ line: 3, col: 8, msg: 'nodes: no nodes (expected at least one node)' }],
  },
  {
    name: 'kv_replicas above the node count',
    yaml: 'cluster:\n  name: t\n  kv_replicas: 3\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 3, col: 16, msg: 'kv_replicas 3 is more than the 1 node(s) (expected at most 1)' }],
  },
  {
    name: 'a bundled nats-server version unibus does not ship',
    yaml: 'cluster:\n  name: t\n  nats_server:\n    version: 2.14.0\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 4, col: 14, msg: 'nats-server 2.14.0 is not a release unibus ships (expected one of 2.10.27, 2.15.1 (or source: debian' }],
  },
  {
    name: "a debian nats-server older than membershipd runs on",
    yaml: 'cluster:\n  name: t\n  nats_server: { source: debian, version: 2.9.10 }\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 3, col: 43, msg: 'nats-server 2.9.10 is older than membershipd runs on (expected 2.10.0 or newer)' }],
  },
  {
    name: 'a nats_server source outside its enum',
    yaml: 'cluster:\n  name: t\n  nats_server: { source: github }\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 3, col: 26, msg: 'invalid value "github" (expected one of: bundled, debian)', path: 'cluster.nats_server.source' }],
  },
  {
    name: 'node name that is not a plain identifier',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: Node.1\n    public_ip: 10.0.0.1\n',
    want: [{ line: 4, col: 11, msg: 'invalid value "Node.1" (expected a plain identifier', path: 'nodes[0].name' }],
  },
  {
    name: 'route_network outside its enum',
    yaml: 'cluster:\n  name: t\n  route_network: private\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 3, col: 18, msg: 'invalid value "private" (expected one of: public, wg)' }],
  },
  {
    name: 'connection outside its enum',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    connection: telnet\n',
    want: [{ line: 6, col: 17, msg: 'invalid value "telnet" (expected one of: ssh, local)' }],
  },
  {
    name: 'YAML syntax error',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: [10.0.0.1\n',
    want: [{ line: 6, col: 1, msg: 'YAML syntax error' }],
  },
  {
    name: 'a key repeated in one mapping',
    yaml: 'cluster:\n  name: t\n  name: u\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 3, col: 3, msg: 'YAML syntax error: Map keys must be unique' }],
  },
  {
    name: 'cluster without a name',
    yaml: 'cluster:\n  kv_replicas: 1\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 2, col: 3, msg: "missing required field 'name'", path: 'cluster.name' }],
  },
  {
    name: 'an address that is not IPv4',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.300\n',
    want: [{ line: 5, col: 16, msg: 'invalid value "10.0.0.300" (expected an IPv4 address' }],
  },
  {
    name: 'a port override that is not a port',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    vars:\n      nats_port: 70000\n',
    want: [{ line: 7, col: 18, msg: 'invalid port 70000 (expected an integer 1-65535)', path: 'nodes[0].vars.nats_port' }],
  },
  {
    name: 'unknown key in defaults',
    yaml: 'cluster:\n  name: t\ndefaults:\n  public_ip: 10.0.0.9\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 4, col: 3, msg: "unknown key 'public_ip'", path: 'defaults.public_ip' }],
  },
  {
    name: 'a node that is not a mapping',
    yaml: 'cluster:\n  name: t\nnodes:\n  - a\n',
    want: [{ line: 4, col: 5, msg: 'wrong type: got string "a" (expected a node mapping', path: 'nodes[0]' }],
  },
  {
    name: 'ports mapping with an unknown listener',
    yaml: 'cluster:\n  name: t\n  ports:\n    http: 8470\n    grpc: 9000\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 5, col: 5, msg: "unknown key 'grpc' (expected one of: http, nats, route)" }],
  },
  {
    name: 'a node named like a role',
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    role: b\n  - name: b\n    public_ip: 10.0.0.2\n',
    want: [{ line: 7, col: 11, msg: "node name 'b' is also a role name", path: 'nodes[1].name' }],
  },
  {
    name: "a node named 'all'",
    yaml: 'cluster:\n  name: t\nnodes:\n  - name: all\n    public_ip: 10.0.0.1\n',
    want: [{ line: 4, col: 11, msg: "node name 'all' is reserved" }],
  },
  {
    // The control plane refuses such a handle: seeding it at bringup would leave an unlisted user holding its key.
    name: 'an admin handle the control plane would refuse',
    yaml: `cluster:\n  name: t\n  admin:\n    handle: u1\n    pubkeys: [ed25519:${'ab'.repeat(32)}]\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n`,
    want: [{ line: 4, col: 13, msg: `invalid value "u1" (expected a user handle: ${HANDLE_EXPECTED})`, path: 'cluster.admin.handle' }],
  },
  {
    name: 'an admin key that is not an Ed25519 public key',
    yaml: 'cluster:\n  name: t\n  admin:\n    handle: ops\n    pubkeys: [ed25519:...]\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 5, col: 15, msg: `invalid value "ed25519:..." (expected ${SIGN_PUB_TEXT_EXPECTED})`, path: 'cluster.admin.pubkeys[0]' }],
  },
  {
    name: 'an admin without a key',
    yaml: 'cluster:\n  name: t\n  admin:\n    handle: ops\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n',
    want: [{ line: 4, col: 5, msg: "missing required field 'pubkeys'", path: 'cluster.admin.pubkeys' }],
  },
];

for (const c of cases) {
  test(`inventory refused: ${c.name}`, () => {
    const errors = catchConfigErrors(() => loadInventory(FILE, c.yaml));
    for (const w of c.want) assertConfigError(errors, FILE, w);
  });
}

test('all errors of one file are reported together, in file order', () => {
  const yaml = 'cluster:\n  name: t\n  colour: blue\nnodes:\n  - name: a\n    public_ip: 10.0.0.1\n    port: x\n';
  const errors = catchConfigErrors(() => loadInventory(FILE, yaml));
  assertConfigError(errors, FILE, { line: 3, col: 3, msg: "unknown key 'colour'" });
  assertConfigError(errors, FILE, { line: 7, col: 11, msg: 'wrong type' });
  const lines = errors.map((e) => e.pos.line);
  if (lines.join() !== [...lines].sort((x, y) => x - y).join()) throw new Error(`not in file order: ${lines}`);
});

test('a missing inventory file is a config error at the file', () => {
  const errors = catchConfigErrors(() => loadInventory('/nonexistent/inventory.yaml'));
  assertConfigError(errors, '/nonexistent/inventory.yaml', { line: 1, col: 1, msg: 'file not found' });
});
