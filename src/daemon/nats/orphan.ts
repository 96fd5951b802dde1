// A membershipd that was killed with SIGKILL cannot stop its nats-server child;
// that child keeps the node's ports and its JetStream store. The next start
// finds it through the pid file the child wrote in this node's state dir, and
// stops it only when its command line proves it is the child we started for
// this very config file.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export async function reapOrphanChild(stateDir: string, log: (line: string) => void, waitMs = 10_000): Promise<boolean> {
  const pidFile = join(resolve(stateDir), 'nats-server.pid');
  const confFile = join(stateDir, 'nats.conf');
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  let argv: string[];
  try {
    argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  } catch {
    return false; // not running
  }
  const isOurs =
    argv.length >= 3 &&
    /(^|\/)nats-server$/.test(argv[0]!) &&
    argv.includes('-c') &&
    [confFile, resolve(confFile)].includes(argv[argv.indexOf('-c') + 1]!);
  if (!isOurs) return false;
  log(`stopping nats-server (pid ${pid}) left running by an earlier membershipd`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline) {
    if (!(await alive(pid))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`nats-server (pid ${pid}) did not stop in ${waitMs} ms; killing`);
  process.kill(pid, 'SIGKILL');
  return true;
}

async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; its parent (init) will reap it.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
