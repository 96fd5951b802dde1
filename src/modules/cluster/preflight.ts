// cluster_preflight: before anything changes on a node: its ports are free
// (or held by this cluster's own running membershipd), its state folder's
// disk has room, and its clock is within max_skew_s of the controller's;
// its machine architecture is registered for the nats-server it is given.
// Read-only, so it runs in check mode as well.
import { parseSeconds } from '../args.js';
import { defineModule } from '../define.js';
import type { Fact } from '../facts/types.js';
import type { ArgsSchema } from '../types.js';

/** Prints `now=EPOCH running=yes|no busy=P,P avail=KiB dir=D arch=M`, and for systemd-user ` home=H linger=yes|no manager=up|down`. */
export const PREFLIGHT_SCRIPT = [
  'ip=$1; dir=$2; mgr=$3; unit=$4; pidfile=$5; shift 5',
  'running=no',
  'if [ "$mgr" = systemd ]; then systemctl is-active --quiet "$unit" && running=yes',
  'elif [ "$mgr" = systemd-user ]; then XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" systemctl --user is-active --quiet "$unit" && running=yes',
  'elif [ -f "$pidfile" ] && kill -0 "$(head -n1 "$pidfile")" 2>/dev/null; then running=yes; fi',
  // A port is busy when a socket listens on it at this address or at the
  // wildcard. Read from /proc/net/tcp{,6}, not by connecting: a connect to a
  // running node's TLS ports shows in its log as a failed handshake.
  `hexip=$(echo "$ip" | awk -F. 'NF == 4 { printf "%02X%02X%02X%02X", $4, $3, $2, $1 }')`,
  'listening() {',
  `  if [ -n "$hexip" ] && [ -r /proc/net/tcp ]; then cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p="$(printf '%04X' "$1")" -v ip="$hexip" '$4 == "0A" { split($2, a, ":"); if (a[2] == p && (a[1] == ip || a[1] == "0000000000000000FFFF0000" ip || a[1] ~ /^0+$/)) f = 1 } END { exit !f }'`,
  `  else timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$ip" "$1" 2>/dev/null; fi`,
  '}',
  'busy=',
  'for p in "$@"; do if listening "$p"; then busy="$busy$p,"; fi; done',
  'd=$dir; while [ ! -d "$d" ]; do d=$(dirname -- "$d"); done',
  `avail=$(df -Pk -- "$d" | awk 'NR==2 {print $4}')`,
  // A user's service: where its units go, and whether its manager outlives its logins (linger).
  'user=; if [ "$mgr" = systemd-user ]; then user=" home=$HOME linger=$(loginctl show-user "$(id -un)" -p Linger --value 2>/dev/null || echo no) manager=$([ -S "/run/user/$(id -u)/systemd/private" ] && echo up || echo down)"; fi',
  'echo "now=$(date +%s.%N) running=$running busy=$busy avail=$avail dir=$d arch=$(uname -m)$user"',
].join('\n');

function parse(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

/** The host's view before a start: its clock, whether the node runs, which ports are busy, free space. */
const PREFLIGHT: Fact<{ ip: string; dir: string; manager: string; unit: string; pidfile: string; ports: string[] }, Record<string, string>> = {
  name: 'preflight of',
  describe: (q) => `${q.ip} ${q.dir}`,
  argv: (q) => ['bash', '-c', PREFLIGHT_SCRIPT, 'unibus-preflight', q.ip, q.dir, q.manager, q.unit, q.pidfile, ...q.ports],
  parse: (_q, r) => (r.code === 0 ? parse(r.stdout) : null),
};

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ip', 'ports', 'dir', 'manager'],
  properties: {
    ip: { type: 'string' },
    ports: { type: 'array', items: { type: ['integer', 'string'] } },
    dir: { type: 'string' },
    manager: { enum: ['systemd', 'systemd-user', 'process'] },
    unit: { type: 'string' },
    pidfile: { type: 'string' },
    min_free_mb: { type: ['integer', 'string'] },
    max_skew_s: { type: ['number', 'string'] },
  },
} as const satisfies ArgsSchema;

export const cluster_preflight = defineModule({
  name: 'cluster_preflight',
  argsSchema,
  async plan(args, ctx) {
    const q = { ip: args.ip, dir: args.dir, manager: args.manager, unit: args.unit ?? 'membershipd', pidfile: args.pidfile ?? '/nonexistent', ports: args.ports.map(String) };
    const before = Date.now() / 1000;
    const f = await ctx.facts.read(PREFLIGHT, q, ctx.become);
    const after = Date.now() / 1000;
    const problems: string[] = [];
    const busy = (f.busy ?? '').split(',').filter(Boolean);
    if (busy.length && f.running !== 'yes') problems.push(`port(s) ${busy.join(', ')} on ${args.ip} are in use by another program`);
    const minKiB = Number(args.min_free_mb ?? 256) * 1024;
    if (!(Number(f.avail) >= minKiB)) problems.push(`${f.avail} KiB free under ${f.dir} (need ${minKiB} KiB)`);
    // The host's clock read lies between the controller's two reads: outside that window plus the bound is skew.
    const maxSkew = parseSeconds('cluster_preflight', 'max_skew_s', args.max_skew_s, 2, 60);
    const now = Number(f.now);
    const skew = now < before ? before - now : now > after ? now - after : 0;
    if (!(skew <= maxSkew)) problems.push(`clock is ${skew.toFixed(2)} s off the controller's (at most ${maxSkew} s)`);
    // The machine (uname -m): which build of a bundled nats-server the node gets.
    const result = { running: f.running === 'yes', busy, avail_kib: Number(f.avail), skew_s: Number(skew.toFixed(3)), arch: f.arch ?? '', ...(args.manager === 'systemd-user' ? { home: f.home ?? '', linger: f.linger === 'yes' } : {}) };
    if (args.manager === 'systemd-user' && !f.home?.startsWith('/')) problems.push(`no home folder for the user's service units (HOME=${JSON.stringify(f.home ?? '')})`);
    // Lingering starts the user's manager; one that is not running failed to start (seen without pam_systemd).
    if (args.manager === 'systemd-user' && f.linger === 'yes' && f.manager !== 'up') problems.push("the user lingers but its own systemd manager is not running (user@UID.service: on Debian it needs libpam-systemd)");
    if (problems.length) return { changed: false, failed: true, reason: problems.join('; '), commands: [], result };
    return { changed: false, reason: `ports ${busy.length ? `held by the running node` : 'free'}, ${Math.round(Number(f.avail) / 1024)} MiB free, clock skew ${skew.toFixed(2)} s`, commands: [], result };
  },
});
