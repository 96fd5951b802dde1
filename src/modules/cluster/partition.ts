// cluster_partition: a network partition made on the host itself with
// nftables, in a table of unibus's own, so nothing of the host's own rules is
// touched.
//   state: cut     drop every packet between this node and `peers`, with a
//                  detached watchdog that deletes the table after `hold_max`
//                  seconds whatever becomes of the run
//   state: healed  delete the table, cancel the watchdog
//
// Two ways, by where the peers are:
// - peers on other hosts (the lab, real servers): table inet unibus_chaos
//   drops packets from the peers (input) and to them (output).
// - peers on this host's loopback (the default local cluster): the nodes
//   share one network stack and dial each other's routes from 127.0.0.1
//   (measured), so no rule on addresses alone tells one node's packets from
//   another's. This node's membershipd and nats-server are moved into a
//   cgroup of their own (cgroup v2), and its table drops what a socket of
//   that cgroup sends to a peer's address (`socket cgroupv2`, measured to
//   cut a connection from inside the cgroup and let one from outside
//   through). A socket keeps the cgroup it was made in, so the node's
//   connections to its peers made before the move are reset (ss -K) and
//   the ones it dials again are dropped: the partition begins with a reset
//   rather than silence, then holds silently. Every node of a cut does the
//   same for its side. The workload,
//   the controller and each node's own membershipd-to-nats-server link are
//   left alone. Needs `state_dir` (whose processes) and nft with cgroup v2.
//
// Facts: whether `nft` is there, whether the table exists (and its rules);
// for loopback peers, the node's processes (as cluster_fault reads them:
// pid files, command lines checked to be this node's) and where cgroup v2 is
// mounted.
import { defineModule } from '../define.js';
import { ModuleArgsError } from '../errors.js';
import { hostPath, parseSeconds } from '../args.js';
import type { Fact } from '../facts/types.js';
import type { ArgsSchema, Command } from '../types.js';
import { FAULT_STATE, isOurs } from './fault.js';
import { cancelWatchdogLines } from './watchdog.js';
import { sha256Hex } from '../../util/hash.js';

export const CHAOS_TABLE = 'unibus_chaos';
/** The watchdog's record on a host with its own network stack. */
export const PARTITION_WATCHDOG_FILE = '/run/unibus-partition.pid';
/** nft resolves `socket cgroupv2` paths under this folder. */
const NFT_CGROUP_ROOT = '/sys/fs/cgroup';

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:]+$/;

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** Where one node's partition lives when nodes share a host: its table and cgroup are named after its state folder. */
export function sharedNames(stateDir: string): { table: string; cgroup: string } {
  const id = sha256Hex(stateDir).slice(0, 12);
  return { table: `${CHAOS_TABLE}_${id}`, cgroup: `unibus-chaos-${id}` };
}

const addrRules = (peers: readonly string[], dir: 'saddr' | 'daddr', prefix = '') => {
  const v4 = peers.filter((p) => IPV4.test(p));
  const v6 = peers.filter((p) => !IPV4.test(p));
  return [
    ...(v4.length ? [`    ${prefix}ip ${dir} { ${v4.join(', ')} } drop`] : []),
    ...(v6.length ? [`    ${prefix}ip6 ${dir} { ${v6.join(', ')} } drop`] : []),
  ];
};

/**
 * The table, made whole in one nft transaction (an old one replaced, never
 * merged). With `cgroup` (nft's path of it, and its level), only what that
 * cgroup's sockets send is dropped.
 */
export function partitionRuleset(peers: readonly string[], table = CHAOS_TABLE, cgroup?: { path: string; level: number }): string {
  const chain = (name: string, hook: string, rules: string[]) => [
    `  chain ${name} {`,
    // Before the host's own filter chains (priority 0): a host that accepts early cannot let a peer through.
    `    type filter hook ${hook} priority -10; policy accept;`,
    ...rules,
    '  }',
  ];
  return [
    // `add` then `delete` makes the delete succeed whether or not the table was there.
    `add table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    ...(cgroup
      ? chain('output', 'output', addrRules(peers, 'daddr', `socket cgroupv2 level ${cgroup.level} "${cgroup.path}" `))
      : [...chain('input', 'input', addrRules(peers, 'saddr')), ...chain('output', 'output', addrRules(peers, 'daddr'))]),
    '}',
    '',
  ].join('\n');
}

/** Prints `nft none` when nft is missing, else `table present|absent`, its rule lines, then `cgroup2 MOUNT` (or `cgroup2 none`). */
const STATE_SCRIPT = [
  'table=$1',
  'command -v nft >/dev/null 2>&1 || { echo "nft none"; exit 0; }',
  `if out=$(nft list table inet "$table" 2>/dev/null); then echo "table present"; printf '%s\\n' "$out" | grep -E 'saddr|daddr' | sed 's/^[[:space:]]*//'; else echo "table absent"; fi`,
  `m=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts); echo "cgroup2 \${m:-none}"`,
].join('\n');

interface PartitionState { nft: boolean; present: boolean; rules: string[]; cgroup2: string | null }

export const PARTITION_STATE: Fact<{ table: string }, PartitionState> = {
  name: 'partition table',
  describe: (q) => `inet ${q.table}`,
  argv: (q) => ['sh', '-c', STATE_SCRIPT, 'unibus-partition-facts', q.table],
  parse(_q, r) {
    if (r.code !== 0) return null;
    const lines = r.stdout.split('\n').filter(Boolean);
    if (lines[0] === 'nft none') return { nft: false, present: false, rules: [], cgroup2: null };
    const mount = lines.find((l) => l.startsWith('cgroup2 '))?.slice(8) ?? 'none';
    return { nft: true, present: lines[0] === 'table present', rules: lines.slice(1).filter((l) => !l.startsWith('cgroup2 ')), cgroup2: mount === 'none' ? null : mount };
  },
};

/**
 * cut: the watchdog first (a run that dies right after leaves no rule past
 * hold), then (shared host) the node's processes into its cgroup, then the
 * table from stdin; healed: cancel the watchdog, delete the table (and the
 * node's cgroup, once empty). Arguments: state hold wdfile table [cgroupdir pid...].
 */
export const PARTITION_SCRIPT = [
  'state=$1; hold=$2; wdfile=$3; table=$4; shift 4',
  ...cancelWatchdogLines('unibus-heal'),
  'if [ "$state" = cut ]; then',
  `  setsid sh -c 'sleep "$1"; nft delete table inet "$2" 2>/dev/null' unibus-heal "$hold" "$table" </dev/null >/dev/null 2>&1 &`,
  '  echo $! > "$wdfile"',
  '  cg=; peers=; pids=',
  '  if [ $# -gt 0 ]; then',
  '    cg=$1; peers=$(echo "$2" | tr , " "); shift 2; pids=$*',
  '    mkdir -p -- "$cg" || exit 1',
  // Where each process was, so that healing puts it back (a file of ours beside the watchdog's).
  '    for pid in $pids; do echo "$pid $(sed -n "s/^0:://p" /proc/$pid/cgroup)" >> "$wdfile.cgroups"; done',
  '    for pid in $pids; do echo "$pid" > "$cg/cgroup.procs" || exit 1; done',
  '    echo "pids $pids moved into $cg"',
  '  fi',
  '  nft -f - || exit 1',
  // A socket keeps the cgroup it was made in: the node's connections to its peers made before the
  // move are reset (ss -K), and the ones it makes again, from inside its cgroup, are dropped.
  '  if [ -n "$pids" ]; then',
  '    ss -Htnp 2>/dev/null | while read -r st rq sq local peer proc; do',
  '      [ "$st" = ESTAB ] || continue',
  '      case " $peers " in *" ${peer%:*} "*) ;; *) continue;; esac',
  '      for pid in $pids; do case $proc in *"pid=$pid,"*) ss -K -tn src "$local" dst "$peer" >/dev/null 2>&1 && echo "reset $local -> $peer (pid $pid)";; esac; done',
  '    done',
  '  fi',
  '  echo "partition in place; watchdog pid $! deletes it in $hold s unless healed first"',
  'else',
  '  nft delete table inet "$table" 2>/dev/null && echo "partition removed" || echo "no partition"',
  // The node's processes go back where they were (any other, such as a nats-server restarted inside
  // it, to the hierarchy's root), then its cgroup goes: rmdir refuses a populated one.
  '  if [ $# -gt 0 ] && [ -d "$1" ]; then',
  '    root=${1%/*}',
  '    [ -f "$wdfile.cgroups" ] && while read -r pid path; do grep -qx "$pid" "$1/cgroup.procs" && echo "$pid" > "$root$path/cgroup.procs" 2>/dev/null; done < "$wdfile.cgroups"',
  '    while read -r pid; do echo "$pid" > "$root/cgroup.procs"; done < "$1/cgroup.procs"',
  '    rmdir -- "$1" 2>/dev/null && echo "cgroup $1 removed"',
  '  fi',
  '  rm -f -- "$wdfile.cgroups"',
  'fi',
  'true',
].join('\n');

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['state'],
  properties: {
    state: { enum: ['cut', 'healed'] },
    peers: { type: 'array', items: { type: 'string' } },
    hold_max: { type: ['number', 'string'] },
    // Nodes sharing one host: whose processes to cut off (and the names of its table and cgroup).
    state_dir: { type: 'string' },
    manager: { enum: ['process', 'systemd'] },
  },
} as const satisfies ArgsSchema;

export const cluster_partition = defineModule({
  name: 'cluster_partition',
  argsSchema,
  async plan(args, ctx) {
    const M = 'cluster_partition';
    const peers = [...new Set(args.peers ?? [])];
    for (const p of peers) if (!IPV4.test(p) && !(p.includes(':') && IPV6.test(p))) throw new ModuleArgsError(M, 'peers', `${JSON.stringify(p)} is not an IP address`);
    const loop = peers.filter(isLoopback);
    if (loop.length && loop.length !== peers.length) throw new ModuleArgsError(M, 'peers', `${loop.join(', ')} on loopback beside ${peers.filter((p) => !isLoopback(p)).join(', ')} elsewhere: expected peers all on this host's loopback or all on other hosts`);
    const stateDir = args.state_dir === undefined ? undefined : hostPath(M, 'state_dir', args.state_dir).replace(/\/+$/, '');
    if (loop.length && !stateDir) throw new ModuleArgsError(M, 'state_dir', `peers ${loop.join(', ')} share this host's loopback: state_dir is needed to cut this node's own processes off`);
    const shared = stateDir ? sharedNames(stateDir) : undefined;
    const table = shared?.table ?? CHAOS_TABLE;
    const wdFile = stateDir ? `${stateDir}/chaos-partition.pid` : PARTITION_WATCHDOG_FILE;
    const holdMax = parseSeconds(M, 'hold_max', args.hold_max, 60, 600);
    const sudo = ctx.become || undefined;
    const st = await ctx.facts.read(PARTITION_STATE, { table }, ctx.become);
    const result = { table, present: st.present, rules: st.rules };
    if (args.state === 'healed') {
      // Nodes sharing a host: their cgroup is removed too once empty (rmdir refuses a populated one).
      const cg = shared && st.cgroup2 ? [`${st.cgroup2}/${shared.cgroup}`] : [];
      const cmd: Command = { kind: 'exec', argv: ['sh', '-c', PARTITION_SCRIPT, 'unibus-partition', 'healed', '0', wdFile, table, ...cg], sudo, timeoutMs: 15_000, label: `delete the nftables table inet ${table}, cancel its watchdog` };
      if (!st.nft) return { changed: false, reason: 'nft not installed: no partition to heal', commands: [], result };
      // Healing with no table still clears a watchdog left by a run that ended early: housekeeping, not a change.
      return { changed: st.present, reason: st.present ? `partition removed (${st.rules.join('; ')})` : 'no partition', commands: [cmd], result };
    }
    if (!peers.length) throw new ModuleArgsError(M, 'peers', 'expected at least one address to cut this node from');
    if (!st.nft) return { changed: false, failed: true, reason: 'nft not found on this host: install nftables (apt-get install nftables) to inject partitions', commands: [], result };
    const argv = ['sh', '-c', PARTITION_SCRIPT, 'unibus-partition', 'cut', String(holdMax), wdFile, table];
    let ruleset = partitionRuleset(peers);
    let what = `every packet to and from ${peers.join(', ')}`;
    if (shared && stateDir) {
      if (!st.cgroup2) return { changed: false, failed: true, reason: 'no cgroup v2 mounted on this host: nodes sharing loopback cannot be told apart by nftables without it', commands: [], result };
      if (!(st.cgroup2 === NFT_CGROUP_ROOT || st.cgroup2.startsWith(`${NFT_CGROUP_ROOT}/`))) {
        return { changed: false, failed: true, reason: `cgroup v2 is mounted at ${st.cgroup2}, outside ${NFT_CGROUP_ROOT} where nft looks cgroups up`, commands: [], result };
      }
      const procs = await ctx.facts.read(FAULT_STATE, { stateDir, manager: args.manager ?? 'process', unit: 'membershipd', targets: ['membershipd', 'nats'] }, ctx.become);
      const live = procs.filter((f) => f.pid !== null && f.state !== 'dead');
      const foreign = live.filter((f) => !isOurs(f, stateDir));
      if (foreign.length || !live.length) {
        return { changed: false, failed: true, reason: live.length ? `refused: pid ${foreign.map((f) => f.pid).join(', ')} is not this node's` : `neither membershipd nor nats-server of ${stateDir} runs: nothing to cut off`, commands: [], result };
      }
      const rel = `${st.cgroup2.slice(NFT_CGROUP_ROOT.length).replace(/^\/+/, '')}/${shared.cgroup}`.replace(/^\/+/, '');
      ruleset = partitionRuleset(peers, table, { path: rel, level: 1 });
      argv.push(`${st.cgroup2}/${shared.cgroup}`, peers.join(','), ...live.map((f) => String(f.pid)));
      what = `what ${live.map((f) => `${f.target === 'nats' ? 'nats-server' : 'membershipd'} pid ${f.pid}`).join(' and ')} send to ${peers.join(', ')} (cgroup ${shared.cgroup})`;
    }
    const cmd: Command = { kind: 'exec', argv, stdin: ruleset, sudo, timeoutMs: 15_000, label: `drop ${what} (nftables table inet ${table}; deleted by a watchdog after ${holdMax} s at the latest)` };
    return { changed: true, reason: `cut from ${peers.join(', ')} for up to ${holdMax} s`, commands: [cmd], result };
  },
});
