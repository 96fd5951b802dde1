// The nemesis's seeded schedule: which faults, in what order, held how long.
// Pure: the same seed, families, nodes and options give the same schedule,
// so `-e chaos_seed=N` replays a run's faults as well as its operations.
//
// Invariants:
// - A fault names a role (a follower, a stream's leader, a majority), never a
//   node: who plays the role is found when the fault is injected
//   (victims.ts), since leaders move with every fault.
// - Holds lie in [holdMin, holdMax] s, gaps in [gapMin, gapMax] s.
// - sequential: each fault starts `gap` s after the one before it healed and
//   the cluster was healthy again; `at` is an estimate for the run length only.
//   combined: each fault starts at `at` s after the schedule began, whatever
//   became of the ones before: faults overlap and may hit a node catching up.
// - Every family in the list appears at least once when the run is long
//   enough for one each; the rest are drawn at random from the list.
import { Rng } from './random.js';
import type { FaultFamily } from './history.js';

/** The faults the nemesis knows, by the name a user picks them with (`-e chaos_faults=...`). */
export const NEMESIS_FAULTS = {
  'kill-follower': { family: 'kill', words: 'SIGKILL membershipd and nats-server of a follower (not the meta leader, stepped down first from every stream it leads)' },
  'kill-stream-leader': { family: 'kill', words: "SIGKILL membershipd and nats-server of a control-plane stream's leader" },
  'kill-meta-leader': { family: 'kill', words: 'SIGKILL membershipd and nats-server of the meta leader' },
  'kill-all': { family: 'kill', words: 'SIGKILL every node at once' },
  'pause-nats': { family: 'pause', words: "SIGSTOP one node's nats-server" },
  'pause-membershipd': { family: 'pause', words: "SIGSTOP one node's membershipd" },
  'pause-both': { family: 'pause', words: "SIGSTOP one node's membershipd and nats-server" },
  'pause-majority': { family: 'pause', words: "SIGSTOP a majority's nats-server (the rest a minority)" },
  'partition-isolate': { family: 'partition', words: 'cut one node from every other' },
  'partition-majority': { family: 'partition', words: 'split the cluster into a majority and a minority' },
  'partition-bridge': { family: 'partition', words: 'cut two nodes from each other, both still seeing a third' },
  restart: { family: 'restart', words: 'restart one node gracefully (lame duck), as play restart does' },
  'restart-all': { family: 'restart', words: 'restart every node gracefully, one at a time, the meta leader last, as play restart does' },
  'skew-node': { family: 'skew', words: "shift one node's membershipd clock by seconds to minutes, either way (its test-clock file, which ends on its own)" },
  'corrupt-minority': { family: 'corrupt', words: "damage a follower's copy of a control-plane stream on disk while it is stopped (cut short or bytes inverted, by the seed), start it, and make it that stream's leader" },
  'corrupt-truncate': { family: 'corrupt', words: "corrupt-minority, the copy's last block cut to half" },
  'corrupt-bitflip': { family: 'corrupt', words: "corrupt-minority, eight bytes of the copy's last block inverted" },
} as const satisfies Record<string, { family: FaultFamily; words: string }>;

export type NemesisFault = keyof typeof NEMESIS_FAULTS;
export const NEMESIS_FAULT_NAMES = Object.keys(NEMESIS_FAULTS) as NemesisFault[];

export interface ScheduleOptions {
  seed: number;
  faults: readonly NemesisFault[];
  mode: 'sequential' | 'combined';
  /** Run length in seconds (faults start before it ends). */
  durationS: number;
  holdMinS: number;
  holdMaxS: number;
  gapMinS: number;
  gapMaxS: number;
  /** Seconds a sequential fault is expected to take to heal and recover (for the run length only). */
  recoveryS?: number;
}

export interface ScheduledFault {
  /** `f<k>-<fault>`: unique in the run, a window id. */
  id: string;
  fault: NemesisFault;
  family: FaultFamily;
  /** Seconds from the schedule's start: exact in combined mode, an estimate in sequential mode. */
  at: number;
  /** Seconds to wait before injecting it (sequential: after the previous fault healed). */
  gap: number;
  hold: number;
  /** Picks among candidates at injection time (which stream, which follower): an index taken modulo their count. */
  pick: number;
}

/** The run's schedule file (out/chaos/<run>/schedule.json). */
export const SCHEDULE_FILE = 'schedule.json';

export interface StoredSchedule {
  seed: number;
  mode: ScheduleOptions['mode'];
  faults: ScheduledFault[];
  /** When the schedule began (epoch ms): combined mode's faults start at t0 + at. */
  t0: number;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** The nemesis's generator: seeded from the run's seed, apart from the workload's, so neither shifts the other. */
const NEMESIS_SALT = 0x9e37_79b9;

export function makeSchedule(o: ScheduleOptions): ScheduledFault[] {
  if (!o.faults.length) throw new RangeError('faults: expected at least one');
  if (!(o.holdMinS > 0 && o.holdMinS <= o.holdMaxS)) throw new RangeError(`hold: expected 0 < min <= max, got ${o.holdMinS}..${o.holdMaxS}`);
  if (!(o.gapMinS >= 0 && o.gapMinS <= o.gapMaxS)) throw new RangeError(`gap: expected 0 <= min <= max, got ${o.gapMinS}..${o.gapMaxS}`);
  const nemesis = Rng.of((o.seed ^ NEMESIS_SALT) >>> 0);
  const recovery = o.recoveryS ?? 8;
  // Each family once, in a seeded order, then random picks.
  const firsts = [...o.faults];
  for (let i = firsts.length - 1; i > 0; i--) {
    const j = nemesis.int(0, i);
    [firsts[i], firsts[j]] = [firsts[j]!, firsts[i]!];
  }
  const out: ScheduledFault[] = [];
  let t = 0;
  for (let k = 0; ; k++) {
    const fault = k < firsts.length ? firsts[k]! : nemesis.pick(o.faults);
    const gap = round1(nemesis.real(o.gapMinS, o.gapMaxS));
    const hold = round1(nemesis.real(o.holdMinS, o.holdMaxS));
    const pick = nemesis.int(0, 1 << 20);
    const at = round1(t + gap);
    // Every named fault comes once, however short the duration; the duration bounds the random ones after.
    if (at >= o.durationS && k >= firsts.length) break;
    out.push({ id: `f${k + 1}-${fault}`, fault, family: NEMESIS_FAULTS[fault].family, at, gap, hold, pick });
    t = o.mode === 'combined' ? at : at + hold + recovery;
  }
  return out;
}

/** The faults named by a comma list or a YAML list; an unknown name is an error naming the known ones. */
export function parseFaultList(v: unknown): NemesisFault[] {
  return readFaultList(v).faults;
}

/** The faults a list names, and whether it said `all` (then a fault this cluster cannot run is left out rather than refused). */
export function readFaultList(v: unknown): { faults: NemesisFault[]; all: boolean } {
  const names = (Array.isArray(v) ? v.map(String) : String(v ?? '').split(',')).map((s) => s.trim()).filter(Boolean);
  // A fault's own name wins over a family of that name: `restart` is the one-node restart, not restart-all too.
  const byName = (n: string) => (n in NEMESIS_FAULTS ? [n as NemesisFault] : NEMESIS_FAULT_NAMES.filter((f) => NEMESIS_FAULTS[f].family === n));
  const expanded = names.flatMap((n) => (n === 'all' ? NEMESIS_FAULT_NAMES : byName(n).length ? byName(n) : [n]));
  const bad = expanded.filter((n) => !(n in NEMESIS_FAULTS));
  const families = [...new Set(NEMESIS_FAULT_NAMES.map((f) => NEMESIS_FAULTS[f].family))];
  if (bad.length) throw new RangeError(`unknown fault ${bad.map((b) => JSON.stringify(b)).join(', ')} (expected all, a family (${families.join(', ')}) or one of ${NEMESIS_FAULT_NAMES.join(', ')})`);
  return { faults: [...new Set(expanded)] as NemesisFault[], all: names.includes('all') };
}
