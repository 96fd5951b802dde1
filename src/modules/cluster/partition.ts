// cluster_partition: a network partition made on the host itself with
// nftables, in tables of unibus's own, so nothing of the host's own rules is
// touched.
//   state: cut       drop every packet between this node and `peers`, with a
//                    detached watchdog that deletes the cut after `hold_max`
//                    seconds whatever becomes of the run
//   state: healed    delete the cut named by `id` (without: every cut of this
//                    node), cancel its watchdog
//   state: enforced  the cuts in force hold for the node's processes started
//                    since (a restart inside a partition stays cut off)
//
// Cuts compose: each `id` (a fault of the chaos play) is a table of its own,
// so a second partition over a node adds its drops to the first's, and
// healing one leaves the other in force. Measured in a combined chaos run
// when one table per node was replaced at each cut: a majority partition
// that a later one replaced on two of its nodes was lifted early, and the
// checker, judging by the first one's window, counted the node's answers as
// served without quorum.
//
// Two ways:
// - with `state_dir` (as the chaos play always passes): this node's
//   membershipd and nats-server are moved into a cgroup of their own
//   (cgroup v2), and its tables drop what a socket of that cgroup sends to a
//   peer's address (`socket cgroupv2`, measured to cut a connection from
//   inside the cgroup and let one from outside through). Nodes sharing one
//   host's loopback (the default local cluster) dial each other's routes
//   from 127.0.0.1 (measured), so no rule on addresses alone tells one
//   node's packets from another's. A socket keeps the cgroup it was made in,
//   so the node's connections to its peers made before the move are reset
//   (ss -K) and the ones it dials again are dropped: the partition begins
//   with a reset rather than silence (a silent route lasts until nats-server's
//   ping gives up, minutes), then holds silently. Every node of a cut does
//   the same for its side. The workload, the controller and each node's own
//   membershipd-to-nats-server link are left alone. A process started
//   outside the cgroup (a kill's restart, a graceful restart) is not cut off
//   until `enforced` moves it in: the chaos roles do right after a start.
// - without `state_dir`: the table drops packets from the peers (input) and
//   to them (output), for a host that is one node.
//
// Facts: whether `nft` is there, this node's tables (and their rules); with
// state_dir, the node's processes (as cluster_fault reads them: pid files,
// command lines checked to be this node's), where cgroup v2 is mounted and
// which pids are in the node's cgroup.
import { defineModule } from '../define.js';
import { ModuleArgsError } from '../errors.js';
import { hostPath, parseSeconds } from '../args.js';
import type { Fact } from '../facts/types.js';
import type { ArgsSchema, Command } from '../types.js';
import { FAULT_STATE, isOurs } from './fault.js';
import { cancelWatchdogLines } from './watchdog.js';
import { sha256Hex } from '../../util/hash.js';

export const CHAOS_TABLE = 'unibus_chaos';
/** The watchdog's record of a cut without `id` on a host with its own network stack. */
export const PARTITION_WATCHDOG_FILE = '/run/unibus-partition.pid';
/** nft resolves `socket cgroupv2` paths under this folder. */
const NFT_CGROUP_ROOT = '/sys/fs/cgroup';

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:]+$/;
const ADDRESS = /(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F]*:[0-9a-fA-F:]+/g;

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** Where one node's partitions live when it has a state folder: its tables' prefix and its cgroup are named after that folder. */
export function sharedNames(stateDir: string): { table: string; cgroup: string } {
  const id = sha256Hex(stateDir).slice(0, 12);
  return { table: `${CHAOS_TABLE}_${id}`, cgroup: `unibus-chaos-${id}` };
}

/** A cut's id as part of an nft table name and a file name: letters, digits and `_`. */
export function cutTag(id: string): string {
  const tag = id.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 40);
  if (!tag) throw new RangeError(`cut id ${JSON.stringify(id)}: expected letters or digits`);
  return tag;
}

export interface PartitionNames {
  /** Every table of this node starts with it (healing them all deletes each). */
  prefix: string;
  /** This cut's table. */
  table: string;
  /** This cut's watchdog record; `${wdBase}.pid` and `${wdBase}-<tag>.pid` are the node's. */
  wdFile: string;
  wdBase: string;
  /** Where the node's processes were before they were moved into its cgroup. */
  record: string;
}

export function partitionNames(stateDir: string | undefined, id: string | undefined): PartitionNames {
  const prefix = stateDir ? sharedNames(stateDir).table : CHAOS_TABLE;
  const wdBase = stateDir ? `${stateDir}/chaos-partition` : PARTITION_WATCHDOG_FILE.replace(/\.pid$/, '');
  const tag = id === undefined ? undefined : cutTag(id);
  return { prefix, table: tag ? `${prefix}_${tag}` : prefix, wdFile: tag ? `${wdBase}-${tag}.pid` : `${wdBase}.pid`, wdBase, record: `${wdBase}.cgroups` };
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
 * The table, made whole in one nft transaction (an old one of the same name
 * replaced, never merged; other tables untouched). With `cgroup` (nft's path
 * of it, and its level), only what that cgroup's sockets send is dropped.
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

/**
 * Prints `nft none` when nft is missing; else each table of the node as
 * `table NAME` then its rules as `rule ...`; then `cgroup2 MOUNT` (or
 * `cgroup2 none`), then `inside PID` for each process in the node's cgroup.
 */
const STATE_SCRIPT = [
  'prefix=$1; cg=$2',
  'command -v nft >/dev/null 2>&1 || { echo "nft none"; exit 0; }',
  'nft list tables inet 2>/dev/null | while read -r _ _ t; do',
  '  case $t in "$prefix"|"$prefix"_*) ;; *) continue;; esac',
  `  echo "table $t"; nft list table inet "$t" 2>/dev/null | grep -E 'saddr|daddr' | sed 's/^[[:space:]]*/rule /'`,
  'done',
  `m=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts); echo "cgroup2 \${m:-none}"`,
  `if [ -n "$m" ] && [ -n "$cg" ] && [ -r "$m/$cg/cgroup.procs" ]; then sed 's/^/inside /' "$m/$cg/cgroup.procs"; fi`,
].join('\n');

export interface PartitionState {
  nft: boolean;
  /** The node's tables, by name, with their rule lines. */
  tables: Map<string, string[]>;
  cgroup2: string | null;
  /** The pids in the node's cgroup. */
  inside: number[];
}

export const PARTITION_STATE: Fact<{ prefix: string; cgroup: string }, PartitionState> = {
  name: 'partition tables',
  describe: (q) => `inet ${q.prefix}*`,
  argv: (q) => ['sh', '-c', STATE_SCRIPT, 'unibus-partition-facts', q.prefix, q.cgroup],
  parse(_q, r) {
    if (r.code !== 0) return null;
    const lines = r.stdout.split('\n').filter(Boolean);
    const tables = new Map<string, string[]>();
    if (lines[0] === 'nft none') return { nft: false, tables, cgroup2: null, inside: [] };
    let mount = 'none';
    const inside: number[] = [];
    let cur: string[] | undefined;
    for (const l of lines) {
      if (l.startsWith('table ')) tables.set(l.slice(6), (cur = []));
      else if (l.startsWith('rule ')) cur?.push(l.slice(5));
      else if (l.startsWith('cgroup2 ')) mount = l.slice(8);
      else if (l.startsWith('inside ')) inside.push(Number(l.slice(7)));
    }
    return { nft: true, tables, cgroup2: mount === 'none' ? null : mount, inside };
  },
};

/**
 * One script, three modes (argument lists by mode):
 *   cut HOLD WDFILE TABLE RECORD [CGDIR PEERS PID...]
 *     this cut's watchdog first (a run that dies right after leaves no rule
 *     past hold; a cut of the same id is replaced), then the pids into the
 *     node's cgroup, then the table from stdin, then the pids' connections to
 *     PEERS reset
 *   enforced RECORD CGDIR PEERS PID...
 *     the pids not yet in the cgroup moved in, their connections reset
 *   healed WDBASE PREFIX RECORD TAG [CGDIR]
 *     the cut TAG (empty: every cut of the node) deleted and its watchdog
 *     cancelled; once no table of the node is left, its processes go back
 *     where they were and its cgroup goes
 */
export const PARTITION_SCRIPT = [
  'mode=$1; shift',
  'cancel() {',
  '  wdfile=$1',
  ...cancelWatchdogLines('unibus-heal').map((l) => `  ${l}`),
  '}',
  // Moves the pids into the cgroup, noting where each was (a pid already inside is left as it is).
  'enter() {',
  '  cg=$1; record=$2; shift 2; root=${cg%/*}; moved=',
  '  mkdir -p -- "$cg" || exit 1',
  '  for pid in "$@"; do',
  '    cur=$(sed -n "s/^0:://p" "/proc/$pid/cgroup" 2>/dev/null); [ -n "$cur" ] || continue',
  '    [ "$root$cur" = "$cg" ] && continue',
  '    echo "$pid $cur" >> "$record"; echo "$pid" > "$cg/cgroup.procs" || exit 1; moved="$moved $pid"',
  '  done',
  '  [ -z "$moved" ] || echo "pids$moved moved into $cg"',
  '}',
  // A socket keeps the cgroup it was made in: the pids' connections to the peers are reset, and the ones they make again, from inside the cgroup, are dropped.
  'reset() {',
  '  peers=$(echo "$1" | tr , " "); shift',
  '  ss -Htnp 2>/dev/null | while read -r st rq sq local peer proc; do',
  '    [ "$st" = ESTAB ] || continue',
  '    case " $peers " in *" ${peer%:*} "*) ;; *) continue;; esac',
  '    for pid in "$@"; do case $proc in *"pid=$pid,"*) ss -K -tn src "$local" dst "$peer" >/dev/null 2>&1 && echo "reset $local -> $peer (pid $pid)";; esac; done',
  '  done',
  '}',
  'case $mode in',
  'cut)',
  '  hold=$1; wdfile=$2; table=$3; record=$4; shift 4',
  '  cancel "$wdfile"',
  `  setsid sh -c 'sleep "$1"; nft delete table inet "$2" 2>/dev/null' unibus-heal "$hold" "$table" </dev/null >/dev/null 2>&1 &`,
  '  echo $! > "$wdfile"; wd=$!',
  '  cg=; peers=',
  '  if [ $# -gt 0 ]; then cg=$1; peers=$2; shift 2; enter "$cg" "$record" "$@"; fi',
  '  nft -f - || exit 1',
  '  [ -z "$cg" ] || reset "$peers" "$@"',
  '  echo "partition $table in place; watchdog pid $wd deletes it in $hold s unless healed first"',
  '  ;;',
  'enforced)',
  '  record=$1; cg=$2; peers=$3; shift 3',
  '  enter "$cg" "$record" "$@"',
  '  reset "$peers" "$@"',
  '  ;;',
  'healed)',
  '  wdbase=$1; prefix=$2; record=$3; tag=$4; cg=${5-}',
  // The node's tables: its prefix alone, or the prefix and a cut's tag.
  `  ours() { nft list tables inet 2>/dev/null | while read -r _ _ t; do case $t in "$prefix"|"$prefix"_*) echo "$t";; esac; done; }`,
  '  if [ -n "$tag" ]; then wds="$wdbase-$tag.pid"; tables="${prefix}_$tag"',
  '  else wds=$(ls -d -- "$wdbase.pid" "$wdbase"-*.pid 2>/dev/null); tables=$(ours); fi',
  '  for w in $wds; do cancel "$w"; done',
  '  for t in $tables; do nft delete table inet "$t" 2>/dev/null && echo "partition $t removed"; done',
  // The node's processes go back where they were (any other, such as a nats-server restarted inside
  // it, to the hierarchy's root), then its cgroup goes: rmdir refuses a populated one.
  '  left=$(ours)',
  '  if [ -z "$left" ] && [ -n "$cg" ] && [ -d "$cg" ]; then',
  '    root=${cg%/*}',
  '    [ -f "$record" ] && while read -r pid path; do grep -qx "$pid" "$cg/cgroup.procs" && echo "$pid" > "$root$path/cgroup.procs" 2>/dev/null; done < "$record"',
  '    while read -r pid; do echo "$pid" > "$root/cgroup.procs"; done < "$cg/cgroup.procs"',
  '    rmdir -- "$cg" 2>/dev/null && echo "cgroup $cg removed"',
  '  fi',
  '  [ -n "$left" ] || rm -f -- "$record"',
  '  [ -z "$left" ] || echo "still in force: $(echo $left)"',
  '  ;;',
  'esac',
  'true',
].join('\n');

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['state'],
  properties: {
    state: { enum: ['cut', 'healed', 'enforced'] },
    // Which cut: one table per id, so that cuts compose (the chaos play passes its fault's id).
    id: { type: 'string', minLength: 1 },
    peers: { type: 'array', items: { type: 'string' } },
    hold_max: { type: ['number', 'string'] },
    // A node with a state folder: whose processes to cut off (and the names of its tables and cgroup).
    state_dir: { type: 'string' },
    manager: { enum: ['process', 'systemd'] },
  },
} as const satisfies ArgsSchema;

/**
 * Each address named in a table's rules as nft lists them: a set in braces,
 * or one address alone (`ip daddr 127.0.0.32 drop`: nft prints a set of one
 * without braces; missed, a restarted node's routes to that peer were not
 * reset and held through the partition in a combined chaos run).
 */
export const rulePeers = (rules: readonly string[]) => [...new Set(rules.flatMap((r) => {
  const m = /\b[sd]addr (?:\{([^}]*)\}|(\S+))/.exec(r);
  return (m?.[1] ?? m?.[2] ?? '').match(ADDRESS) ?? [];
}))];

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
    let names: PartitionNames;
    try {
      names = partitionNames(stateDir, args.id);
    } catch (e) {
      throw new ModuleArgsError(M, 'id', (e as Error).message);
    }
    const shared = stateDir ? sharedNames(stateDir) : undefined;
    const { table } = names;
    const holdMax = parseSeconds(M, 'hold_max', args.hold_max, 60, 600);
    const sudo = ctx.become || undefined;
    const st = await ctx.facts.read(PARTITION_STATE, { prefix: names.prefix, cgroup: shared?.cgroup ?? '' }, ctx.become);
    const result = { table, present: st.tables.has(table), tables: [...st.tables.keys()] };
    const cgDir = shared && st.cgroup2 ? `${st.cgroup2}/${shared.cgroup}` : undefined;
    const label = (t: string) => `${t} (${(st.tables.get(t) ?? []).join('; ')})`;
    if (args.state === 'healed') {
      if (!st.nft) return { changed: false, reason: 'nft not installed: no partition to heal', commands: [], result };
      const gone = args.id === undefined ? [...st.tables.keys()] : st.tables.has(table) ? [table] : [];
      const tag = args.id === undefined ? '' : cutTag(args.id);
      const cmd: Command = { kind: 'exec', argv: ['sh', '-c', PARTITION_SCRIPT, 'unibus-partition', 'healed', names.wdBase, names.prefix, names.record, tag, ...(cgDir ? [cgDir] : [])], sudo, timeoutMs: 15_000, label: `delete ${args.id === undefined ? `every nftables table inet ${names.prefix}*` : `the nftables table inet ${table}`}, cancel its watchdog` };
      // Healing with no table still clears a watchdog left by a run that ended early: housekeeping, not a change.
      return { changed: gone.length > 0, reason: gone.length ? `partition removed: ${gone.map(label).join(', ')}` : 'no partition', commands: [cmd], result };
    }
    const processes = async () => {
      const procs = await ctx.facts.read(FAULT_STATE, { stateDir: stateDir!, manager: args.manager ?? 'process', unit: 'membershipd', targets: ['membershipd', 'nats'] }, ctx.become);
      const live = procs.filter((f) => f.pid !== null && f.state !== 'dead');
      const foreign = live.filter((f) => !isOurs(f, stateDir!));
      const refusal = foreign.length || !live.length ? (live.length ? `refused: pid ${foreign.map((f) => f.pid).join(', ')} is not this node's` : `neither membershipd nor nats-server of ${stateDir} runs: nothing to cut off`) : undefined;
      return { live, refusal };
    };
    if (args.state === 'enforced') {
      // Only a cut by cgroup lets a process started since through; address rules hold for any.
      const inForce = [...st.tables].filter(([, rules]) => rules.some((r) => r.includes('cgroupv2')));
      if (!stateDir || !cgDir || !inForce.length) return { changed: false, reason: 'no partition by cgroup in force', commands: [], result };
      const { live, refusal } = await processes();
      if (!live.length) return { changed: false, reason: 'nothing runs to cut off', commands: [], result };
      if (refusal) return { changed: false, failed: true, reason: refusal, commands: [], result };
      const outside = live.filter((f) => !st.inside.includes(f.pid!));
      if (!outside.length) return { changed: false, reason: `cut off by ${inForce.map(([t]) => t).join(', ')}`, commands: [], result };
      const cutFrom = rulePeers(inForce.flatMap(([, rules]) => rules));
      const cmd: Command = { kind: 'exec', argv: ['sh', '-c', PARTITION_SCRIPT, 'unibus-partition', 'enforced', names.record, cgDir, cutFrom.join(','), ...live.map((f) => String(f.pid))], sudo, timeoutMs: 15_000, label: `move ${outside.map((f) => `${f.target === 'nats' ? 'nats-server' : 'membershipd'} pid ${f.pid}`).join(' and ')} into cgroup ${shared!.cgroup}, reset their connections to ${cutFrom.join(', ')}` };
      return { changed: true, reason: `started since the cut: ${outside.map((f) => f.pid).join(', ')} cut off from ${cutFrom.join(', ')} (${inForce.map(([t]) => t).join(', ')})`, commands: [cmd], result };
    }
    if (!peers.length) throw new ModuleArgsError(M, 'peers', 'expected at least one address to cut this node from');
    if (!st.nft) return { changed: false, failed: true, reason: 'nft not found on this host: install nftables (apt-get install nftables) to inject partitions', commands: [], result };
    const argv = ['sh', '-c', PARTITION_SCRIPT, 'unibus-partition', 'cut', String(holdMax), names.wdFile, table, names.record];
    let ruleset = partitionRuleset(peers, table);
    let what = `every packet to and from ${peers.join(', ')}`;
    if (shared && stateDir) {
      if (!st.cgroup2) return { changed: false, failed: true, reason: 'no cgroup v2 mounted on this host: nodes sharing loopback cannot be told apart by nftables without it', commands: [], result };
      if (!(st.cgroup2 === NFT_CGROUP_ROOT || st.cgroup2.startsWith(`${NFT_CGROUP_ROOT}/`))) {
        return { changed: false, failed: true, reason: `cgroup v2 is mounted at ${st.cgroup2}, outside ${NFT_CGROUP_ROOT} where nft looks cgroups up`, commands: [], result };
      }
      const { live, refusal } = await processes();
      if (refusal) return { changed: false, failed: true, reason: refusal, commands: [], result };
      const rel = `${st.cgroup2.slice(NFT_CGROUP_ROOT.length).replace(/^\/+/, '')}/${shared.cgroup}`.replace(/^\/+/, '');
      ruleset = partitionRuleset(peers, table, { path: rel, level: 1 });
      argv.push(cgDir!, peers.join(','), ...live.map((f) => String(f.pid)));
      what = `what ${live.map((f) => `${f.target === 'nats' ? 'nats-server' : 'membershipd'} pid ${f.pid}`).join(' and ')} send to ${peers.join(', ')} (cgroup ${shared.cgroup})`;
    }
    const others = [...st.tables.keys()].filter((t) => t !== table);
    const cmd: Command = { kind: 'exec', argv, stdin: ruleset, sudo, timeoutMs: 15_000, label: `drop ${what} (nftables table inet ${table}; deleted by a watchdog after ${holdMax} s at the latest)` };
    return { changed: true, reason: `cut from ${peers.join(', ')} for up to ${holdMax} s${others.length ? `, beside ${others.join(', ')} in force` : ''}`, commands: [cmd], result };
  },
});
