// The systemd unit fact: one `systemctl show` says whether systemd knows the
// unit, whether its file changed since it was loaded (NeedDaemonReload),
// whether it is enabled and whether it runs.
import type { Fact } from './types.js';

export function parseShow(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

const SHOWN = ['-p', 'LoadState', '-p', 'ActiveState', '-p', 'UnitFileState', '-p', 'NeedDaemonReload'];

export const UNIT_STATE: Fact<string, Record<string, string>> = {
  name: 'state of unit',
  argv: (unit) => ['systemctl', 'show', ...SHOWN, '--', unit],
  parse(_unit, r) {
    const f = parseShow(r.stdout);
    return r.code === 0 && f.LoadState ? f : null;
  },
};

/**
 * argv of `systemctl --user ARGS` for the login user's own manager. An ssh
 * command without a login session has no XDG_RUNTIME_DIR (seen on the lab's
 * Debian hosts: "Failed to connect to user scope bus"), so it is set to the
 * user's runtime folder when absent; the manager itself runs there while the
 * user lingers.
 */
export function userSystemctl(...args: string[]): string[] {
  return ['sh', '-c', 'XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}" exec systemctl --user "$@"', 'systemctl', ...args];
}

/** The same, of a unit of the login user's own service manager (systemctl --user). */
export const USER_UNIT_STATE: Fact<string, Record<string, string>> = {
  ...UNIT_STATE,
  name: 'state of user unit',
  argv: (unit) => userSystemctl('show', ...SHOWN, '--', unit),
};
