import { UNIT_STATE, USER_UNIT_STATE, userSystemctl } from './facts/systemd.js';
import type { Command, ModuleContext, ModulePlan } from './types.js';

export interface SystemdArgs {
  name: string;
  state?: 'started' | 'stopped' | 'restarted' | 'reloaded';
  enabled?: boolean;
  /** Reload systemd when it says the unit file changed (default true). */
  daemonReload: boolean;
  /** system (default) or user: the login user's own service manager (systemctl --user), never through sudo. */
  scope?: 'system' | 'user';
}


const RUNNING = new Set(['active', 'activating', 'reloading']);

/**
 * One `systemctl show` reads everything: whether systemd knows the unit,
 * whether its file changed since it was loaded (NeedDaemonReload), whether it
 * is enabled and running. A unit systemd does not know yet (its file was just
 * written) gets a daemon-reload first, in check mode and apply alike.
 */
export async function planSystemd(a: SystemdArgs, ctx: ModuleContext): Promise<ModulePlan> {
  const user = a.scope === 'user';
  const sudo = (!user && ctx.become) || undefined;
  const f = await ctx.facts.read(user ? USER_UNIT_STATE : UNIT_STATE, a.name, !user && ctx.become);
  const result = { name: a.name, status: { ...f } };
  const commands: Command[] = [];
  const why: string[] = [];
  const sc = (...argv: string[]): Command => ({ kind: 'exec', argv: user ? userSystemctl(...argv) : ['systemctl', ...argv], sudo, timeoutMs: 120_000 });

  if (a.daemonReload && (f.LoadState === 'not-found' || f.NeedDaemonReload === 'yes')) {
    commands.push(sc('daemon-reload'));
    why.push(f.LoadState === 'not-found' ? 'unit not loaded yet' : 'unit file changed');
  }
  if (a.enabled !== undefined) {
    const isEnabled = f.UnitFileState === 'enabled' || f.UnitFileState === 'enabled-runtime';
    const fixed = f.UnitFileState === 'static' || f.UnitFileState === 'alias' || f.UnitFileState === 'generated';
    if (!fixed && a.enabled !== isEnabled) {
      commands.push(sc(a.enabled ? 'enable' : 'disable', '--', a.name));
      why.push(`${a.enabled ? 'enable' : 'disable'} (was ${f.UnitFileState || 'unknown'})`);
    }
  }
  const running = RUNNING.has(f.ActiveState ?? '');
  switch (a.state) {
    case 'started':
      if (!running) (commands.push(sc('start', '--', a.name)), why.push(`start (was ${f.ActiveState})`));
      break;
    case 'stopped':
      if (running) (commands.push(sc('stop', '--', a.name)), why.push(`stop (was ${f.ActiveState})`));
      break;
    case 'restarted':
      commands.push(sc('restart', '--', a.name));
      why.push('restart');
      break;
    case 'reloaded':
      commands.push(sc(running ? 'reload' : 'start', '--', a.name));
      why.push(running ? 'reload' : `start (was ${f.ActiveState})`);
      break;
    default:
      break;
  }
  if (!commands.length) return { changed: false, reason: 'up to date', commands, result };
  // A daemon-reload alone changes no service state, and check mode cannot see
  // a unit file an earlier task will write: counting it would make check and
  // apply disagree. It runs (the executor runs any commands) but is not a change.
  if (commands.length === 1 && commands[0]!.kind === 'exec' && commands[0]!.argv.at(-1) === 'daemon-reload') {
    return { changed: false, reason: `${why[0]}: daemon-reload, otherwise up to date`, commands, result };
  }
  return { changed: true, reason: why.join(', '), commands, result };
}
