// The chaos play's controller steps (commands of cluster_chaos_workload and
// cluster_chaos_mark), with their options as JSON on stdin:
//   start  spawn the workload detached, record its PID, wait (bounded) for
//          its first acknowledged write
//   stop   stop exactly the recorded workload (its command line checked), bounded
//   mark   append minority_start, hold the window, append minority_end
//   served wait (bounded) until every node has acknowledged a write sent
//          after a given time, reading the run's journal
//   check  the journal, and every acknowledged room read back through every
//          node: prints the verdict (printVerdict) with the run's counts
import { isAlive } from '../../util/process.js';
import { printVerdict, runControllerStep, stepArgv } from './step.js';
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { formatCounts, lostWrites, MARKERS_FILE, readJournal, summarizeJournal, WORKLOAD_PROGRAM, WRITES_FILE, workloadPidOf, type Marker } from '../chaos/journal.js';
import { readBack, readSeedFile, type HttpNode } from '../chaos/readback.js';
import type { WorkloadConfig } from '../chaos/workload.js';
import { sleep } from '../../util/time.js';


const readOrNull = (file: string) => readFile(file, 'utf8').catch(() => null);

async function start(o: { config: WorkloadConfig; pidFile: string; latestFile: string; ackWithinS: number }): Promise<number> {
  const { config } = o;
  mkdirSync(config.runDir, { recursive: true, mode: 0o700 });
  const cfgFile = join(config.runDir, 'workload.json');
  writeFileSync(cfgFile, JSON.stringify(config, null, 1) + '\n', { mode: 0o600 });
  const log = openSync(join(config.runDir, 'workload.log'), 'a', 0o600);
  const argv = stepArgv(WORKLOAD_PROGRAM, [cfgFile]);
  // Its own session: the runner's timeout kills the process group of this command, not the workload.
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  const pid = child.pid!;
  writeFileSync(o.pidFile, `${pid}\n${cfgFile}\n`, { mode: 0o600 });
  writeFileSync(o.latestFile, `${config.run}\n`, { mode: 0o600 });
  const writes = join(config.runDir, WRITES_FILE);
  const deadline = Date.now() + o.ackWithinS * 1000;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) break;
    if (existsSync(writes) && /"status":2\d\d/.test(readFileSync(writes, 'utf8'))) {
      console.log(`workload ${config.run} running (pid ${pid}), journal ${writes}`);
      return 0;
    }
    await sleep(200);
  }
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(o.pidFile, { force: true });
  const tail = readFileSync(join(config.runDir, 'workload.log'), 'utf8').trim().split('\n').slice(-5).join(' | ');
  process.stderr.write(`the workload acknowledged no write within ${o.ackWithinS} s: ${tail || 'no output'}\n`);
  return 1;
}

async function stop(o: { pidFile: string; graceS: number }): Promise<number> {
  const pid = await workloadPidOf(await readOrNull(o.pidFile), (p) => readOrNull(`/proc/${p}/cmdline`));
  if (pid === null) {
    rmSync(o.pidFile, { force: true });
    console.log('no workload running');
    return 0;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + o.graceS * 1000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    console.log(`workload (pid ${pid}) did not stop in ${o.graceS} s: killed`);
  } else console.log(`workload (pid ${pid}) stopped`);
  rmSync(o.pidFile, { force: true });
  return 0;
}

async function mark(o: { runDir: string; minority: string; frozen: string[]; holdS: number }): Promise<number> {
  const file = join(o.runDir, MARKERS_FILE);
  const put = (m: Marker) => appendFileSync(file, JSON.stringify(m) + '\n', { mode: 0o600 });
  put({ mark: 'minority_start', at: Date.now(), minority: o.minority, frozen: o.frozen });
  await sleep(o.holdS * 1000);
  put({ mark: 'minority_end', at: Date.now(), minority: o.minority });
  console.log(`${o.minority} held as a minority for ${o.holdS} s (${o.frozen.join(', ')} frozen)`);
  return 0;
}

async function served(o: { runDir: string; nodes: string[]; since: number; timeoutMs: number }): Promise<number> {
  const deadline = o.since + o.timeoutMs;
  for (;;) {
    const { attempts } = readJournal(o.runDir);
    const ok = new Set(attempts.filter((a) => a.sent_at >= o.since && a.status >= 200 && a.status < 300).map((a) => a.node));
    const waiting = o.nodes.filter((n) => !ok.has(n));
    if (!waiting.length) {
      console.log(`every node acknowledges writes again (${((Date.now() - o.since) / 1000).toFixed(1)} s)`);
      return 0;
    }
    if (Date.now() >= deadline) {
      process.stderr.write(`no write acknowledged by ${waiting.join(', ')} within ${(o.timeoutMs / 1000).toFixed(0)} s\n`);
      return 1;
    }
    await sleep(250);
  }
}

async function check(o: { run: string; runDir: string; nodes: HttpNode[]; handle: string; keyFile: string; requireWindow: boolean }): Promise<number> {
  const { attempts, markers } = readJournal(o.runDir);
  const s = summarizeJournal(o.run, attempts, markers, { requireWindow: o.requireWindow });
  const rooms = [...s.acked_rooms.keys()];
  const missing = rooms.length ? await readBack(o.nodes, o.handle, await readSeedFile(o.keyFile), rooms) : {};
  s.violations.push(...lostWrites(s.acked_rooms, missing));
  const result = { run: o.run, run_dir: o.runDir, sent: s.sent, acked: s.acked, failed: s.failed, retried: s.retried, refused_without_quorum: s.refused_without_quorum, window: s.window, violations: s.violations };
  const counts = `run ${o.run}: ${formatCounts(s)}; read back ${rooms.length} acknowledged rooms from ${Object.keys(missing).length} nodes`;
  if (!s.violations.length) return printVerdict({ reason: counts, result });
  const shown = s.violations.slice(0, 10).join('; ') + (s.violations.length > 10 ? `; and ${s.violations.length - 10} more` : '');
  return printVerdict({ reason: `${counts}. VIOLATED: ${shown}`, failed: true, result });
}

if (process.argv[1] && /steps[\\/]chaos\.[jt]s$/.test(process.argv[1])) {
  runControllerStep<never>('chaos', async (o) => {
    switch (process.argv[2]) {
      case 'start': return start(o);
      case 'stop': return stop(o);
      case 'mark': return mark(o);
      case 'served': return served(o);
      case 'check': return check(o);
      default: throw new Error(`unknown step ${JSON.stringify(process.argv[2])} (expected start, stop, mark, served or check)`);
    }
  });
}
