// The lab from the command line:
//   node --import tsx test/lab/cli.ts up [--hosts N]   (default 3)
//   node --import tsx test/lab/cli.ts down
//   node --import tsx test/lab/cli.ts status
// up and down run under an exclusive lock (flock on LOCK_FILE), so two test
// processes asking for a lab at once get one lab, built once.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isOurLoop } from './host.js';
import { LabError } from './exec.js';
import { isHealthy, labAvailable } from './lab.js';
import { sshRun } from './ssh.js';
import { LOCK_FILE, STATE_FILE, readState } from './state.js';
import { downLab, upLab } from './updown.js';

const USAGE = 'usage: cli.ts up [--hosts N] | down | status';

function parseHosts(args: string[]): number {
  const i = args.indexOf('--hosts');
  if (i < 0) return 3;
  const v = args[i + 1];
  const n = Number(v);
  if (!v || !Number.isInteger(n)) throw new LabError(`--hosts: '${v ?? ''}' is not a whole number (expected e.g. --hosts 3)`);
  return n;
}

/** Re-runs this command under flock unless it already holds the lock. */
function underLock(args: string[]): number | undefined {
  if (process.env.UBLAB_LOCKED === LOCK_FILE) return undefined;
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync('flock', ['-w', '1800', LOCK_FILE, process.execPath, ...process.execArgv, self, ...args], {
    stdio: 'inherit',
    env: { ...process.env, UBLAB_LOCKED: LOCK_FILE },
    timeout: 45 * 60_000,
  });
  if (r.error) throw new LabError(`cannot take the lab lock ${LOCK_FILE}: ${r.error.message}`, { cause: r.error });
  return r.status ?? 1;
}

async function status(): Promise<number> {
  const s = readState();
  if (!s) {
    console.log(`no lab (no ${STATE_FILE})`);
    return 1;
  }
  console.log(`lab: ${s.hosts.length} host(s), base ${s.baseHash}, known_hosts ${s.knownHostsFile}, key ${s.identityFile}`);
  let ok = isHealthy(s);
  const lines = await Promise.all(
    s.hosts.map(async (h) => {
      if (!isOurLoop(h.loopPid, h.root)) return `  ${h.name} ${h.ip}  DOWN (boot loop ${h.loopPid} gone)`;
      const r = await sshRun({ ...h, user: 'root', port: 22, identityFile: s.identityFile }, s.knownHostsFile,
        'systemctl is-system-running', 15_000);
      const st = r.stdout.trim() || r.stderr.trim();
      if (st !== 'running') ok = false;
      return `  ${h.name} ${h.ip}  pid ${h.loopPid}  ${st}`;
    }),
  );
  console.log(lines.join('\n'));
  return ok ? 0 : 1;
}

async function main(args: string[]): Promise<number> {
  const [cmd] = args;
  if (cmd === 'status') return status();
  if (cmd !== 'up' && cmd !== 'down') {
    console.error(USAGE);
    return 2;
  }
  const avail = labAvailable();
  if (!avail.ok) {
    console.error(`lab: ${avail.reason}`);
    return 1;
  }
  const locked = underLock(args);
  if (locked !== undefined) return locked;
  if (cmd === 'down') {
    await downLab();
    return 0;
  }
  const n = parseHosts(args);
  try {
    const s = await upLab(n);
    for (const h of s.hosts) console.log(`${h.name} ${h.ip}`);
    return 0;
  } catch (err) {
    // Leave nothing half made behind: a failed up is a clean slate for the next try.
    console.error(`lab: up failed: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.UBLAB_KEEP_FAILED === '1') return 1; // to look at a failed host by hand
    await downLab().catch((e: unknown) => console.error(`lab: down after failed up: ${String(e)}`));
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(`lab: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
