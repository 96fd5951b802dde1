// The self-healing faults' watchdogs (fault.ts's freeze, partition.ts's cut):
// a detached `sh` named by its $0 (unibus-thaw, unibus-heal), its PID kept in
// a file on the host. Cancelling one kills that PID only while it still runs
// the watchdog of that name: a PID reused by anything else is left alone.

/** Shell lines that cancel the watchdog whose PID is in "$wdfile" (when it is still `name`), then remove the file. */
export function cancelWatchdogLines(name: string): string[] {
  if (!/^[a-z-]+$/.test(name)) throw new Error(`watchdog name ${JSON.stringify(name)}: expected a-z and -`);
  return [
    `wdours() { [ -r "/proc/$1/cmdline" ] && tr '\\0' '\\n' < "/proc/$1/cmdline" | grep -qxF -- ${name}; }`,
    'wd=$(head -n1 -- "$wdfile" 2>/dev/null)',
    `case $wd in ''|*[!0-9]*) ;; *) wdours "$wd" && kill "$wd" 2>/dev/null && echo "watchdog pid $wd cancelled";; esac`,
    'rm -f -- "$wdfile"',
  ];
}
