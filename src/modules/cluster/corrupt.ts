// cluster_corrupt: damage one stream's copy on a stopped node, on disk, the
// way a failing disk or a torn write would (the chaos play's minority
// corruption). Only ever on a node whose nats-server is not running: a live
// file changed under a running server would be another fault.
//   how: truncate  the stream's last message block cut to half its size
//   how: bitflip   8 bytes of it inverted, at offsets drawn from `pick`
// Facts: the node's processes (as cluster_fault reads them) and the stream's
// message block files with their sizes (find under the node's JetStream
// store: <state_dir>/jetstream/jetstream/<account>/streams/<stream>/msgs/).
import { hostPath } from '../args.js';
import { defineModule } from '../define.js';
import { ModuleArgsError } from '../errors.js';
import type { Fact } from '../facts/types.js';
import type { ArgsSchema, Command } from '../types.js';
import { FAULT_STATE } from './fault.js';

interface Block { path: string; size: number }

const BLOCKS: Fact<{ stateDir: string; stream: string }, Block[]> = {
  name: 'message blocks of',
  describe: (q) => `${q.stream} in ${q.stateDir}`,
  argv: (q) => ['sh', '-c', 'find "$1/jetstream" -path "*/streams/$2/msgs/*.blk" -type f -printf "%s %p\\n" 2>/dev/null; true', 'unibus-blocks', q.stateDir, q.stream],
  parse(_q, r) {
    if (r.code !== 0) return null;
    return r.stdout.split('\n').filter(Boolean).map((l) => {
      const sp = l.indexOf(' ');
      return { size: Number(l.slice(0, sp)), path: l.slice(sp + 1) };
    });
  },
};

/** Block files are numbered: the last one holds the newest messages. */
const blockNo = (p: string) => Number(/(\d+)\.blk$/.exec(p)?.[1] ?? -1);

/** Eight distinct offsets in [0, size), from `pick` (a small LCG: the same pick, the same bytes). */
export function flipOffsets(size: number, pick: number): number[] {
  const out = new Set<number>();
  let x = (pick >>> 0) || 1;
  for (let i = 0; out.size < Math.min(8, size) && i < 1000; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    out.add(x % size);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Arguments: how file nats-pidfile size [offset...]. Refuses (exit 3) when
 * the node's nats-server runs; then truncates, or inverts each byte.
 */
export const CORRUPT_SCRIPT = [
  'how=$1; file=$2; pidfile=$3; size=$4; shift 4',
  'pid=$(head -n1 -- "$pidfile" 2>/dev/null)',
  `case $pid in ''|*[!0-9]*) ;; *) if [ -r "/proc/$pid/cmdline" ] && tr '\\0' '\\n' < "/proc/$pid/cmdline" | grep -q nats-server; then echo "refused: nats-server pid $pid runs" >&2; exit 3; fi;; esac`,
  'if [ "$how" = truncate ]; then',
  '  truncate -s $((size / 2)) -- "$file" && echo "truncated $file from $size to $((size / 2)) bytes"',
  'else',
  '  for off in "$@"; do',
  '    v=$(od -An -tu1 -j "$off" -N1 -- "$file" | tr -d " ")',
  '    printf "$(printf \'\\\\%03o\' $((v ^ 255)))" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none || exit 1',
  '  done',
  '  echo "inverted the bytes at $* of $file"',
  'fi',
].join('\n');

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['state_dir', 'stream', 'how'],
  properties: {
    state_dir: { type: 'string' },
    stream: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    how: { enum: ['truncate', 'bitflip'] },
    pick: { type: ['integer', 'string'] },
    manager: { enum: ['process', 'systemd'] },
  },
} as const satisfies ArgsSchema;

export const cluster_corrupt = defineModule({
  name: 'cluster_corrupt',
  argsSchema,
  async plan(args, ctx) {
    const M = 'cluster_corrupt';
    const stateDir = hostPath(M, 'state_dir', args.state_dir).replace(/\/+$/, '');
    const pick = Number(args.pick ?? 0);
    if (!Number.isSafeInteger(pick) || pick < 0) throw new ModuleArgsError(M, 'pick', `expected an integer >= 0, got ${JSON.stringify(args.pick)}`);
    const procs = await ctx.facts.read(FAULT_STATE, { stateDir, manager: args.manager ?? 'process', unit: 'membershipd', targets: ['nats'] }, ctx.become);
    const nats = procs.find((f) => f.target === 'nats' && f.pid !== null && f.state !== 'dead');
    if (nats && !ctx.check) return { changed: false, failed: true, reason: `refused: nats-server (pid ${nats.pid}) runs; stop the node before its files are damaged`, commands: [] };
    const blocks = (await ctx.facts.read(BLOCKS, { stateDir, stream: args.stream }, ctx.become)).filter((b) => b.size > 0);
    // A copy just rebuilt from its peers holds no block until they have sent it: nothing to damage, and the node is
    // brought back as after any corruption (a failed task here left it stopped, and the cluster without quorum).
    if (!blocks.length) return { changed: false, reason: `nothing damaged: no message block of ${args.stream} under ${stateDir}/jetstream (an empty copy, as one being rebuilt from its peers)`, commands: [], result: { damaged: false } };
    const last = blocks.sort((a, b) => blockNo(a.path) - blockNo(b.path)).at(-1)!;
    const offsets = args.how === 'bitflip' ? flipOffsets(last.size, pick) : [];
    const cmd: Command = {
      kind: 'exec',
      argv: ['sh', '-c', CORRUPT_SCRIPT, 'unibus-corrupt', args.how, last.path, `${stateDir}/nats-server.pid`, String(last.size), ...offsets.map(String)],
      sudo: ctx.become || undefined,
      timeoutMs: 30_000,
      label: args.how === 'truncate' ? `truncate ${last.path} from ${last.size} to ${Math.floor(last.size / 2)} bytes` : `invert the bytes at ${offsets.join(', ')} of ${last.path} (${last.size} bytes)`,
    };
    return { changed: true, reason: `${args.how} ${args.stream}'s last block (${last.path}, ${last.size} bytes)`, commands: [cmd], result: { damaged: true, file: last.path, size: last.size, offsets } };
  },
});
