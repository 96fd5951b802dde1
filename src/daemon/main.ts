// membershipd entry. `membershipd [flags]` runs a node; `membershipd VERB ...`
// runs an operator command (COMMANDS: src/daemon/commands/VERB.ts, `run(args)`).
import { parseFlags, FlagError } from './flags.js';
import { runPreflight } from './preflight.js';
import { reapOrphanChild } from './nats/orphan.js';
import { startNode, type MembershipNode } from './node.js';
import { allowlistCacheFile, loadCachedAllowlist } from './auth/allowlist.js';
import type { HealthSource } from './http/healthz.js';
import { createControlApp, listenControlApp, type ControlPlane } from './http/app.js';

// Seconds since process start: makes slow start phases visible in the journal.
const log = (line: string) => process.stderr.write(`membershipd: [+${(performance.now() / 1000).toFixed(3)}s] ${line}\n`);

/**
 * The operator commands, by verb. Each module exports `run(args)`; a table
 * (not a file name looked up at run time) so that only these are verbs and a
 * bundler sees every import.
 */
const COMMANDS: Record<string, () => Promise<{ run(args: string[]): Promise<number> }>> = {
  backup: () => import('./commands/backup.js'),
  repair: () => import('./commands/repair.js'),
  restore: () => import('./commands/restore.js'),
  user: () => import('./commands/user.js'),
};

async function runCommand(verb: string, args: string[]): Promise<number> {
  const load = Object.hasOwn(COMMANDS, verb) ? COMMANDS[verb] : undefined;
  if (!load) {
    log(`unknown command "${verb}" (commands: ${Object.keys(COMMANDS).join(', ')})`);
    return 2;
  }
  return (await load()).run(args);
}

/** The HTTP control plane, loaded only when a node runs (operator commands do not need h3). */
async function loadControlPlane(node: MembershipNode): Promise<ControlPlane> {
  const { setupControlPlane } = await import('./http/routes.js');
  return setupControlPlane(node);
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] && !argv[0].startsWith('-')) return runCommand(argv[0], argv.slice(1));
  let opts;
  let pf;
  try {
    opts = parseFlags(argv);
    if (!opts.natsUrl) await reapOrphanChild(opts.stateDir, log);
    pf = await runPreflight(opts);
  } catch (err) {
    if (err instanceof FlagError) {
      log(`refusing to start: ${err.message}`);
      return 2;
    }
    throw err;
  }
  // A stop asked for while the child is starting must still stop it, not orphan it.
  let early: string | null = null;
  const onEarly = (sig: string) => () => {
    early = sig;
  };
  const earlyTerm = onEarly('SIGTERM');
  const earlyInt = onEarly('SIGINT');
  const earlyHup = () => log('SIGHUP during start: ignored');
  process.once('SIGTERM', earlyTerm);
  process.once('SIGINT', earlyInt);
  process.on('SIGHUP', earlyHup);
  const cache = allowlistCacheFile(opts.stateDir);
  const initialAllowlist = (await loadCachedAllowlist(cache)) ?? [];
  if (initialAllowlist.length) log(`enforcing the cached allowlist (${initialAllowlist.length} users) until the control plane syncs`);
  const node = await startNode(opts, pf, log, { initialAllowlist }).finally(() => {
    process.off('SIGTERM', earlyTerm);
    process.off('SIGINT', earlyInt);
    process.off('SIGHUP', earlyHup);
  });
  // HTTP comes up at once so /healthz can say 503 while the node gets ready;
  // the control plane opens its buckets beside the readiness write and mounts
  // once that first replicated write succeeded.
  const planeP = node.jetstreamUp.then(() => loadControlPlane(node));
  let planeUp = false;
  let plane: ControlPlane | undefined;
  // Healthy means able to serve: the /v1 routes must be mounted, not only the node ready.
  const health: HealthSource = {
    health: async () => {
      const r = await node.health();
      if (r.status !== 'ok') return r;
      if (!planeUp) return { ...r, status: 'unavailable', reason: 'control plane starting' };
      const clock = plane?.clockState?.();
      return clock && !clock.ok ? { ...r, status: 'unavailable', reason: clock.reason } : r;
    },
  };
  let listener: Awaited<ReturnType<typeof listenControlApp>>;
  try {
    listener = await listenControlApp(createControlApp({ node: health, plane: planeP }), opts.bind, opts.httpPort);
  } catch (err) {
    await node.stop();
    throw err;
  }
  log(`listening: http ${opts.bind}:${opts.httpPort}, nats ${opts.natsUrl ?? `${opts.bind}:${opts.natsPort}`}, server ${opts.serverName}`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    let exitCode = 0;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      log(`${sig}: stopping (lame duck)`);
      await listener.close().catch(() => {});
      await plane?.close?.().catch((e: Error) => log(`control plane close: ${e.message}`));
      await node.stop();
      log('stopped');
      process.off('SIGHUP', onHup);
      resolve(exitCode);
    };
    const onHup = () => {
      node.reload(true).then(
        () => log('SIGHUP: config validated; nats-server reloaded'),
        (e: Error) => log(`reload refused: ${e.message}`),
      );
    };
    planeP.then(
      (p) => {
        plane = p;
        planeUp = true;
        log('ready: first control-plane write succeeded');
      },
      (err: Error) => {
        log(`not ready: ${err.message}${err.cause ? ` (${(err.cause as Error).message})` : ''}`);
        exitCode = 1;
        void stop('startup failure');
      },
    );
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
    process.on('SIGHUP', onHup);
    if (early) void stop(early);
  });
}
