// cluster_partition: a network partition made on the host itself with
// nftables, in a table of unibus's own (inet unibus_chaos), so nothing of the
// host's own rules is touched.
//   state: cut     drop every packet to and from `peers` (input and output),
//                  with a detached watchdog that deletes the table after
//                  `hold_max` seconds whatever becomes of the run
//   state: healed  delete the table, cancel the watchdog
// Facts: whether `nft` is there, and whether the table exists (and its rules).
// Refused: a peer on loopback (127.0.0.0/8, ::1). Nodes that share one
// network stack dial each other's routes from 127.0.0.1 (measured), so rules
// on their addresses would cut nothing, or every node at once.
import { defineModule } from '../define.js';
import { ModuleArgsError } from '../errors.js';
import { parseSeconds } from '../args.js';
import type { Fact } from '../facts/types.js';
import type { ArgsSchema, Command } from '../types.js';

export const CHAOS_TABLE = 'unibus_chaos';
/** The watchdog's record on the host. */
export const PARTITION_WATCHDOG_FILE = '/run/unibus-partition.pid';

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6 = /^[0-9a-fA-F:]+$/;

export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** The table, made whole in one nft transaction (an old one replaced, never merged). */
export function partitionRuleset(peers: readonly string[]): string {
  const v4 = peers.filter((p) => IPV4.test(p));
  const v6 = peers.filter((p) => !IPV4.test(p));
  const rules = (dir: 'saddr' | 'daddr') => [
    ...(v4.length ? [`    ip ${dir} { ${v4.join(', ')} } drop`] : []),
    ...(v6.length ? [`    ip6 ${dir} { ${v6.join(', ')} } drop`] : []),
  ];
  return [
    // `add` then `delete` makes the delete succeed whether or not the table was there.
    `add table inet ${CHAOS_TABLE}`,
    `delete table inet ${CHAOS_TABLE}`,
    `table inet ${CHAOS_TABLE} {`,
    '  chain input {',
    // Before the host's own filter chains (priority 0): a host that accepts early cannot let a peer through.
    '    type filter hook input priority -10; policy accept;',
    ...rules('saddr'),
    '  }',
    '  chain output {',
    '    type filter hook output priority -10; policy accept;',
    ...rules('daddr'),
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Prints `nft none` when nft is missing, else `table present|absent`, then the table's rule lines. */
const STATE_SCRIPT = [
  'command -v nft >/dev/null 2>&1 || { echo "nft none"; exit 0; }',
  `if out=$(nft list table inet ${CHAOS_TABLE} 2>/dev/null); then echo "table present"; printf '%s\\n' "$out" | grep -E 'saddr|daddr' | sed 's/^[[:space:]]*//'; else echo "table absent"; fi`,
].join('\n');

interface PartitionState { nft: boolean; present: boolean; rules: string[] }

const PARTITION_STATE: Fact<Record<string, never>, PartitionState> = {
  name: 'partition table',
  describe: () => `inet ${CHAOS_TABLE}`,
  argv: () => ['sh', '-c', STATE_SCRIPT],
  parse(_q, r) {
    if (r.code !== 0) return null;
    const lines = r.stdout.split('\n').filter(Boolean);
    if (lines[0] === 'nft none') return { nft: false, present: false, rules: [] };
    return { nft: true, present: lines[0] === 'table present', rules: lines.slice(1) };
  },
};

/**
 * cut: the watchdog first (a run that dies right after leaves no rule past
 * hold), then the table from stdin; healed: cancel the watchdog, delete the table.
 */
export const PARTITION_SCRIPT = [
  'state=$1; hold=$2; wdfile=$3',
  `ours() { [ -r "/proc/$1/cmdline" ] && tr '\\0' '\\n' < "/proc/$1/cmdline" | grep -qxF -- unibus-heal; }`,
  'wd=$(head -n1 -- "$wdfile" 2>/dev/null)',
  `case $wd in ''|*[!0-9]*) ;; *) ours "$wd" && kill "$wd" 2>/dev/null && echo "watchdog pid $wd cancelled";; esac`,
  'rm -f -- "$wdfile"',
  'if [ "$state" = cut ]; then',
  `  setsid sh -c 'sleep "$1"; nft delete table inet ${CHAOS_TABLE} 2>/dev/null' unibus-heal "$hold" </dev/null >/dev/null 2>&1 &`,
  '  echo $! > "$wdfile"',
  '  nft -f - || exit 1',
  '  echo "partition in place; watchdog pid $! deletes it in $hold s unless healed first"',
  'else',
  `  nft delete table inet ${CHAOS_TABLE} 2>/dev/null && echo "partition removed" || echo "no partition"`,
  'fi',
].join('\n');

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['state'],
  properties: {
    state: { enum: ['cut', 'healed'] },
    peers: { type: 'array', items: { type: 'string' } },
    hold_max: { type: ['number', 'string'] },
  },
} as const satisfies ArgsSchema;

export const cluster_partition = defineModule({
  name: 'cluster_partition',
  argsSchema,
  async plan(args, ctx) {
    const peers = [...new Set(args.peers ?? [])];
    for (const p of peers) if (!IPV4.test(p) && !(p.includes(':') && IPV6.test(p))) throw new ModuleArgsError('cluster_partition', 'peers', `${JSON.stringify(p)} is not an IP address`);
    const loop = peers.filter(isLoopback);
    if (loop.length) {
      throw new ModuleArgsError('cluster_partition', 'peers', `${loop.join(', ')} on loopback: nodes sharing one network stack dial each other's routes from 127.0.0.1, so address rules cannot cut one node from another; partitions need nodes with a network stack each (the lab, real servers)`);
    }
    const holdMax = parseSeconds('cluster_partition', 'hold_max', args.hold_max, 60, 600);
    const sudo = ctx.become || undefined;
    const st = await ctx.facts.read(PARTITION_STATE, {}, ctx.become);
    const result = { present: st.present, rules: st.rules };
    if (args.state === 'healed') {
      const cmd: Command = { kind: 'exec', argv: ['sh', '-c', PARTITION_SCRIPT, 'unibus-partition', 'healed', '0', PARTITION_WATCHDOG_FILE], sudo, timeoutMs: 15_000, label: `delete the nftables table inet ${CHAOS_TABLE}, cancel its watchdog` };
      if (!st.nft) return { changed: false, reason: 'nft not installed: no partition to heal', commands: [], result };
      // Healing with no table still clears a watchdog left by a run that ended early: housekeeping, not a change.
      return { changed: st.present, reason: st.present ? `partition removed (${st.rules.join('; ')})` : 'no partition', commands: [cmd], result };
    }
    if (!peers.length) throw new ModuleArgsError('cluster_partition', 'peers', 'expected at least one address to cut this host from');
    if (!st.nft) return { changed: false, failed: true, reason: 'nft not found on this host: install nftables (apt-get install nftables) to inject partitions', commands: [], result };
    const ruleset = partitionRuleset(peers);
    const cmd: Command = {
      kind: 'exec',
      argv: ['sh', '-c', PARTITION_SCRIPT, 'unibus-partition', 'cut', String(holdMax), PARTITION_WATCHDOG_FILE],
      stdin: ruleset,
      sudo,
      timeoutMs: 15_000,
      label: `drop every packet to and from ${peers.join(', ')} (nftables table inet ${CHAOS_TABLE}; deleted by a watchdog after ${holdMax} s at the latest)`,
    };
    return { changed: true, reason: `cut from ${peers.join(', ')} for up to ${holdMax} s`, commands: [cmd], result };
  },
});
