// JSON Schema of inventory.yaml, validated by ajv in load.ts. Every object is
// closed (additionalProperties: false) except `vars`, so a typo is an error
// rather than a silently ignored setting. Descriptions double as the
// "expected ..." part of error messages.
import { HANDLE_EXPECTED, HANDLE_RE, SIGN_PUB_TEXT_EXPECTED, SIGN_PUB_TEXT_RE } from '../protocol/model.js';

const port = (what: string, dflt?: number) => ({
  type: 'integer',
  minimum: 1,
  maximum: 65535,
  ...(dflt !== undefined ? { default: dflt } : {}),
  description: `a TCP port number 1-65535 (${what})`,
});

const ipv4 = (what: string) => ({
  type: 'string',
  pattern: '^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$',
  description: `an IPv4 address like 192.0.2.10 (${what})`,
});

const freeVars = { type: 'object', description: 'a mapping of variable names to values' };

/** Node fields that `defaults` may set for every node. */
const nodeDefaultable = {
  user: { type: 'string', minLength: 1, description: 'an SSH login user name' },
  port: port('SSH port'),
  identity_file: { type: 'string', minLength: 1, description: 'a path to an SSH private key file' },
  role: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$', description: 'a role name: lowercase letters, digits, _ and -' },
  connection: { enum: ['ssh', 'local'], description: 'ssh or local' },
  service_manager: { enum: ['systemd', 'systemd-user', 'process'], description: "systemd, systemd-user (the node's user's own service manager: one node on a workstation or LAN host) or process" },
  vars: freeVars,
};

export const inventorySchema = {
  type: 'object',
  description: 'a mapping with cluster, defaults and nodes',
  additionalProperties: false,
  required: ['cluster', 'nodes'],
  properties: {
    cluster: {
      type: 'object',
      description: 'a mapping of cluster settings',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$', description: 'a cluster name: letters, digits, . _ and -' },
        ports: {
          type: 'object',
          description: 'a mapping with http, nats and route ports',
          additionalProperties: false,
          default: {},
          properties: { http: port('control plane HTTP', 8470), nats: port('NATS clients', 4250), route: port('NATS cluster routes', 6250) },
        },
        route_network: { enum: ['public', 'wg'], default: 'public', description: 'public or wg' },
        kv_replicas: { type: 'integer', minimum: 1, maximum: 5, default: 1, description: 'an integer 1-5 (JetStream replicas)' },
        nonce_store: { enum: ['disk', 'memory'], default: 'disk', description: 'disk or memory (where nonces are kept; memory needs kv_replicas 3 or more)' },
        cluster_user: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'a route user name: letters, digits, _ and -' },
        sync_interval: { type: ['string', 'integer'], pattern: '^(always|[0-9]+(ms|s|m|h))$', description: "JetStream's sync_interval: always, a duration like '2m', or seconds" },
        state_dir: { type: 'string', minLength: 1, description: 'a folder; each node keeps its state in <state_dir>/<node name>' },
        nats_server: {
          type: 'object',
          description: 'a mapping with version and source (bundled or debian)',
          additionalProperties: false,
          default: {},
          properties: {
            version: { type: 'string', pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+$', description: 'a nats-server version such as "2.15.1"' },
            source: { enum: ['bundled', 'debian'], default: 'bundled', description: "bundled (unibus ships Debian's binary of that version) or debian (the host's own package, of that version when one is given)" },
          },
        },
        admin: {
          type: 'object',
          description: 'the first admin: a handle and its public keys',
          additionalProperties: false,
          required: ['handle', 'pubkeys'],
          // The control plane's own rules: an admin it would refuse is refused here, at its line.
          properties: {
            handle: { type: 'string', pattern: HANDLE_RE.source, description: `a user handle: ${HANDLE_EXPECTED}` },
            pubkeys: {
              type: 'array',
              minItems: 1,
              items: { type: 'string', pattern: SIGN_PUB_TEXT_RE.source, description: SIGN_PUB_TEXT_EXPECTED },
              description: 'a non-empty list of Ed25519 public keys (bringup adds the admin with the first)',
            },
          },
        },
      },
    },
    defaults: {
      type: 'object',
      description: 'a mapping of default node fields (user, port, identity_file, role, connection, service_manager, vars)',
      additionalProperties: false,
      properties: nodeDefaultable,
    },
    nodes: {
      type: 'array',
      description: 'a list of nodes',
      items: {
        type: 'object',
        description: 'a node mapping with at least name and public_ip',
        additionalProperties: false,
        required: ['name', 'public_ip'],
        properties: {
          name: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$', description: 'a plain identifier: lowercase letter first, then letters, digits, _ or -' },
          host: { type: 'string', minLength: 1, description: 'an SSH host name or address (default: public_ip)' },
          public_ip: ipv4('public address'),
          wg_ip: ipv4('WireGuard address'),
          ...nodeDefaultable,
        },
      },
    },
  },
} as const;

/** Field defaults for a node when neither the node nor `defaults` sets them. */
export const NODE_FIELD_DEFAULTS = {
  user: 'root',
  port: 22,
  role: 'node',
  connection: 'ssh',
  service_manager: 'systemd',
} as const;

/** Default `cluster.state_dir` on a host. */
export const DEFAULT_STATE_DIR = '/var/lib/unibus';
