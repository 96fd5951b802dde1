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

/** The same, of a unit of the login user's own service manager (systemctl --user). */
export const USER_UNIT_STATE: Fact<string, Record<string, string>> = {
  ...UNIT_STATE,
  name: 'state of user unit',
  argv: (unit) => ['systemctl', '--user', 'show', ...SHOWN, '--', unit],
};
