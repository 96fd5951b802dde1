// The chaos workload as a detached controller process (started by
// `steps/chaos.ts start`, stopped by `steps/chaos.ts stop` through its PID
// file): reads its configuration file (argv[2]; it names the admin's key
// file, it holds no secret), runs until SIGTERM, its time bound, or the end
// of the `unibus play` run that started it.
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { isAlive } from '../../util/process.js';
import { readSeedFile } from '../chaos/final-reads.js';
import { runWorkload, type WorkloadConfig } from '../chaos/workload.js';

async function main(): Promise<number> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: chaos-workload CONFIG.json');
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as WorkloadConfig;
  const seed = await readSeedFile(cfg.admin.keyFile);
  const ac = new AbortController();
  // Every client, the data plane, the probes and the floor wait on this one signal at once (not a leak: each wait removes its own listener).
  setMaxListeners(0, ac.signal);
  const stop = (why: string) => {
    if (ac.signal.aborted) return;
    console.log(`${new Date().toISOString()} stopping: ${why}`);
    ac.abort();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const bound = setTimeout(() => stop(`time bound of ${cfg.maxSeconds} s`), cfg.maxSeconds * 1000);
  const watch = setInterval(() => {
    if (cfg.parentPid && !isAlive(cfg.parentPid)) stop(`the run that started it (pid ${cfg.parentPid}) is gone`);
  }, 1000);
  console.log(`${new Date().toISOString()} run ${cfg.run} (seed ${cfg.seed}): ${cfg.clientsPerNode} clients per node through ${cfg.nodes.map((n) => `${n.name}=${n.url}`).join(' ')}`);
  const r = await runWorkload(cfg, seed, ac.signal);
  clearTimeout(bound);
  clearInterval(watch);
  console.log(`${new Date().toISOString()} stopped after ${r.ops} ops`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`chaos workload: ${err.message}\n`);
    process.exit(1);
  },
);
