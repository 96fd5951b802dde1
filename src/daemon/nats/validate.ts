// Checks on the nats-server binary and on rendered configs, both by running
// the real binary with a bounded wait.
import { execFile } from 'node:child_process';
import { UnibusError } from '../../errors.js';

export class NatsBinaryError extends UnibusError {}
export class NatsConfInvalidError extends UnibusError {}

const MIN = [2, 10, 0];

function run(bin: string, args: string[], timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`;
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err);
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out });
    });
  });
}

export function parseNatsVersion(text: string): number[] | null {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** Returns the version string; refuses a binary older than 2.10 or one that does not run. */
export async function checkNatsVersion(bin: string): Promise<string> {
  let r: { code: number; out: string };
  try {
    r = await run(bin, ['--version'], 10_000);
  } catch (cause) {
    throw new NatsBinaryError(`cannot run ${bin} --version (is nats-server installed? see --nats-server-bin)`, { cause });
  }
  const v = parseNatsVersion(r.out);
  if (r.code !== 0 || !v) throw new NatsBinaryError(`${bin} --version gave no version: ${r.out.trim().slice(0, 200)}`);
  for (let i = 0; i < 3; i++) {
    if (v[i] > MIN[i]) break;
    if (v[i] < MIN[i]) {
      throw new NatsBinaryError(`${bin} is nats-server ${v.join('.')}; membershipd needs 2.10 or newer`);
    }
  }
  return v.join('.');
}

/** `nats-server -t -c FILE`; throws with the server's own message when invalid. */
export async function validateConfFile(bin: string, file: string): Promise<void> {
  const r = await run(bin, ['-t', '-c', file], 15_000);
  if (r.code !== 0) {
    throw new NatsConfInvalidError(`nats-server rejected ${file}: ${r.out.trim().slice(0, 500)}`);
  }
}
