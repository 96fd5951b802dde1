// The lab is shared: two copies of the runner's lab tests (or the bench) must
// not deploy the same demo at once. An flock on the controller, held by a
// child process for as long as the caller needs it, serialises them.
import { spawn, type ChildProcess } from 'node:child_process';

export interface Exclusive {
  release(): void;
}

export function takeExclusive(name: string, waitS = 900): Promise<Exclusive> {
  return new Promise((resolve, reject) => {
    // The holder reads our stdin: if this process dies, the pipe closes and the lock goes with it.
    const child: ChildProcess = spawn('flock', ['-w', String(waitS), `/run/lock/${name}.lock`, '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`could not take /run/lock/${name}.lock within ${waitS}s (flock exit ${code})`)));
    child.stdout!.once('data', () => {
      child.removeAllListeners('exit');
      resolve({
        release: () => {
          child.stdin!.end();
          child.kill('SIGTERM');
        },
      });
    });
  });
}
