// The chaos runs' folder (out/chaos/): which run is the latest, and the
// workload process of the run in progress (its PID file, checked against
// /proc before anything signals it). A run's own files are history.ts's.
export const LATEST_FILE = 'latest';
export const WORKLOAD_PID_FILE = 'workload.pid';
/** The workload's step program (src/controller/steps/<name>.ts or dist/controller/steps/<name>.js). */
export const WORKLOAD_PROGRAM = 'chaos-workload';
const WORKLOAD_FILE = new RegExp(`steps/${WORKLOAD_PROGRAM}\\.[jt]s$`);

/**
 * The PID a workload pid file (`PID\nCONFIG`) records, when that process is
 * still the workload: its command line names the program and the file's
 * config. `cmdline` reads /proc/PID/cmdline (null when there is none; a
 * zombie's is empty). Shared by the module's facts and the stop step.
 */
export async function workloadPidOf(pidFileText: string | null, cmdline: (pid: number) => Promise<string | null>): Promise<number | null> {
  if (!pidFileText) return null;
  const [pidText, config] = pidFileText.split('\n');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 1) return null;
  const cmd = await cmdline(pid);
  if (!cmd) return null;
  const argv = cmd.split('\0');
  return argv.some((a) => WORKLOAD_FILE.test(a)) && (!config || argv.includes(config)) ? pid : null;
}
