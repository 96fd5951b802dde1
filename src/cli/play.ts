// `unibus play <playbook>`: argument parsing, wiring of inventory, playbook,
// transports and printer; the work itself is playbook/execute.ts.
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, ConfigErrors, UnibusError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import type { Inventory, NodeSpec } from '../inventory/types.js';
import { hostVars } from '../inventory/vars.js';
import { describeCommand, formatFileDiff } from '../modules/print.js';
import { runPlaybook } from '../playbook/execute.js';
import { loadPlaybook, PlaybookNotFoundError } from '../playbook/load.js';
import { LockHeldError } from '../playbook/lock.js';
import { EXIT } from '../playbook/recap.js';
import { defaultToolkit } from '../playbook/toolkit.js';
import type { Transport } from '../transport/types.js';
import { jsonPrinter, textPrinter } from './output.js';
import { connectNode, LazyLocalTransport } from '../transport/connect.js';

export const HELP = `usage: unibus play <playbook> [options]

Runs playbooks/<playbook>.yaml (or a path to a playbook file) against the
inventory's hosts. The project folder is the inventory's folder.

options:
  -i, --inventory FILE   inventory file (default ./inventory.yaml)
  -C, --check            plan only: change nothing on any host, print each host's plan;
                         the counts it predicts are those a real run then reports.
                         It takes no lease (a write) but judges it as the run would: it
                         refuses (or waits, --lock-wait) where the run would, and warns
                         of a stale lease the run would take over.
                         Each task is planned against the host as the file changes
                         planned before it would leave it (files, folders, modes, owners,
                         removals); packages, services and scripts are read as they are
                         now, so a task that depends on those is predicted from today's state.
  -D, --diff             show unified diffs of files (secrets as fingerprints)
  -l, --limit PATTERN    only these hosts (names, roles, 'all', '!name'; comma-separated);
                         one that leaves no host of the playbook is refused (exit 4)
  -t, --tags T1,T2       only tasks with these tags ('always' tasks run too);
                         a tag no task carries is warned of, naming the playbook's tags
      --skip-tags T1,T2  skip tasks with these tags (unknown ones warned of too)
  -f, --forks N          at most N hosts at once (default: all)
  -e, --extra-vars K=V   set a variable (highest precedence); repeatable; V is YAML
  -v, --verbose          show every host's reason and the commands run
      --json             one JSON event per line (run_start, play_start, task_start,
                         host_result, handler, warning, recap)
      --lock-wait S      wait up to S seconds for another run's deploy lock
      --accept-new-host-keys  record the key of a host not yet in known_hosts
                         (a changed key is always refused)
  -h, --help             this text

exit codes:
  0  every host ok
  2  a task failed on a host
  3  a host was unreachable (connection refused, host key unknown or mismatched)
  4  bad input (inventory, playbook, template, arguments; a --limit matching no host)
  5  another run holds the deploy lock on a host
  130 interrupted (SIGINT); leases released, notified handlers stay pending

files on each host (<state_dir> = the node's state_dir, e.g. /var/lib/unibus/<node>):
  <state_dir>/lock.json              the deploy lease (owner, pid, playbook, start;
                                     heartbeat every 5 s, taken over after 60 s silence)
  <state_dir>/pending-handlers.json  handlers notified but not yet run
  /var/log/unibus/audit.log          one JSON line per run (local hosts: <state_dir>/audit.log)`;

export class UsageError extends UnibusError {}

interface PlayArgs {
  playbook: string;
  inventory: string;
  check: boolean;
  diff: boolean;
  limit?: string[];
  tags: string[];
  skipTags: string[];
  forks?: number;
  extraVars: Record<string, unknown>;
  verbose: boolean;
  json: boolean;
  lockWaitS: number;
  acceptNew: boolean;
}

const list = (v: string | undefined) => (v ? v.split(',').map((x) => x.trim()).filter(Boolean) : []);

async function parseExtraVar(kv: string): Promise<[string, unknown]> {
  const eq = kv.indexOf('=');
  if (eq < 1) throw new UsageError(`-e ${kv}: expected key=value`);
  const { parse } = await import('yaml');
  const raw = kv.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = parse(raw);
  } catch {
    // not YAML: the plain string
  }
  return [kv.slice(0, eq), value ?? raw];
}

export async function parsePlayArgs(args: string[]): Promise<PlayArgs | 'help'> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      inventory: { type: 'string', short: 'i' }, check: { type: 'boolean', short: 'C' }, diff: { type: 'boolean', short: 'D' },
      limit: { type: 'string', short: 'l' }, tags: { type: 'string', short: 't' }, 'skip-tags': { type: 'string' },
      forks: { type: 'string', short: 'f' }, 'extra-vars': { type: 'string', short: 'e', multiple: true },
      verbose: { type: 'boolean', short: 'v', multiple: true }, json: { type: 'boolean' }, 'lock-wait': { type: 'string' }, 'accept-new-host-keys': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError(`expected exactly one playbook, got ${positionals.length}`);
  const num = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} ${v}: expected an integer >= ${min}`);
    return n;
  };
  const extra: Record<string, unknown> = {};
  for (const kv of values['extra-vars'] ?? []) {
    const [k, v] = await parseExtraVar(kv);
    extra[k] = v;
  }
  return {
    playbook: positionals[0]!,
    inventory: values.inventory ?? 'inventory.yaml',
    check: values.check ?? false,
    diff: values.diff ?? false,
    limit: values.limit ? list(values.limit) : undefined,
    tags: list(values.tags),
    skipTags: list(values['skip-tags']),
    forks: num('forks', values.forks, 1),
    extraVars: extra,
    verbose: (values.verbose?.length ?? 0) > 0,
    json: values.json ?? false,
    acceptNew: values['accept-new-host-keys'] ?? false,
    lockWaitS: Math.min(num('lock-wait', values['lock-wait'], 0) ?? 0, 3600),
  };
}

function pathsOf(inv: Inventory, node: NodeSpec, projectDir: string) {
  const raw = String(hostVars(inv, node).state_dir);
  // A local node's relative state_dir lives in the project folder, wherever unibus is started from.
  const stateDir = node.connection === 'local' ? resolve(projectDir, raw) : raw;
  return { stateDir, logDir: node.connection === 'local' ? stateDir : '/var/log/unibus' };
}

/** A node's known_hosts variable, when it names a file. */
const knownHostsSetting = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

function reportError(e: unknown, write: (s: string) => void): number {
  if (e instanceof ConfigError || e instanceof ConfigErrors || e instanceof UsageError || e instanceof PlaybookNotFoundError) {
    write(`unibus play: ${e.message}\n`);
    if (e instanceof UsageError) write(`(unibus play --help for usage)\n`);
    return EXIT.badInput;
  }
  if (e instanceof LockHeldError) {
    write(`unibus play: ${e.message}\n`);
    return EXIT.lockHeld;
  }
  if (e instanceof UnibusError) {
    write(`unibus play: ${e.message}\n`);
    return EXIT.badInput;
  }
  write(`unibus play: ${(e as Error)?.stack ?? String(e)}\n`);
  return 1;
}

export async function run(args: string[]): Promise<number> {
  const errOut = (s: string) => process.stderr.write(s);
  let a: PlayArgs | 'help';
  try {
    a = await parsePlayArgs(args);
  } catch (e) {
    return reportError(e instanceof TypeError ? new UsageError(e.message) : e, errOut);
  }
  if (a === 'help') {
    process.stdout.write(HELP + '\n');
    return 0;
  }
  // A closed stdout (`| head`) must not kill the run between a lease and its release.
  let stdoutOpen = true;
  process.stdout.on('error', () => {
    stdoutOpen = false;
  });
  const out = (s: string) => {
    if (stdoutOpen) process.stdout.write(s);
  };
  const tty = !a.json && process.stdout.isTTY === true;
  const describers = { describeCommand, formatDiff: formatFileDiff };
  const printer = a.json
    ? { emit: jsonPrinter(out, describers, a.diff), end: () => undefined }
    : textPrinter({
        verbose: a.verbose, diff: a.diff, check: a.check, write: out, tty, color: tty && !process.env.NO_COLOR, describers,
        warn: { write: errOut, color: process.stderr.isTTY === true && !process.env.NO_COLOR },
      });
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    // First ^C: finish the commands in flight, record, release leases. Second: leave now.
    if (++interrupts > 1) process.exit(EXIT.interrupted);
    errOut('\nunibus play: interrupted; finishing the commands in flight and releasing the deploy locks (^C again to quit now)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  const controllers: Transport[] = [];
  try {
    const invFile = resolve(a.inventory);
    const inventory = loadInventory(invFile);
    const projectDir = dirname(invFile);
    const playbook = loadPlaybook(a.playbook, { projectDir });
    for (const w of inventory.warnings) printer.emit({ event: 'warning', message: w });
    const outcome = await runPlaybook({
      playbook,
      playbookName: a.playbook.replace(/^.*\//, '').replace(/\.ya?ml$/, ''),
      inventory,
      check: a.check,
      diff: a.diff,
      tags: a.tags,
      skipTags: a.skipTags,
      limit: a.limit,
      forks: a.forks,
      extraVars: a.extraVars,
      lockWaitS: a.lockWaitS,
      toolkit: defaultToolkit(),
      connect: (node) => connectNode(node, { knownHosts: knownHostsSetting(node.vars.known_hosts ?? inventory.defaults.known_hosts), projectDir, acceptNew: a.acceptNew }),
      controller: () => {
        const t = new LazyLocalTransport('controller');
        controllers.push(t);
        return t;
      },
      pathsOf: (node) => pathsOf(inventory, node, projectDir),
      baseDirs: [projectDir],
      emit: printer.emit,
      signal: abort.signal,
    });
    printer.end();
    return outcome.exitCode;
  } catch (e) {
    printer.end();
    return reportError(e, errOut);
  } finally {
    process.off('SIGINT', onSigint);
    await Promise.all(controllers.map((t) => t.close().catch(() => undefined)));
  }
}
