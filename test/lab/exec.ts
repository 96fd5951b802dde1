// Runs one command with a time bound and captures its output. The lab drives
// root-only tools (debootstrap, ip, mount, systemd-nspawn, ssh) through this one
// place so every call has a timeout and every failure names the command.
import { spawn } from 'node:child_process';

export class LabError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LabError';
  }
}

export interface RunOptions {
  /** Hard bound; the child is killed (SIGKILL, by its PID) when it passes. Default 60 s. */
  timeoutMs?: number;
  input?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Return a non-zero exit instead of throwing. */
  allowFail?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function tail(text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new LabError(`cannot run ${argv[0]}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res = { code: code ?? 128, stdout, stderr };
      if (timedOut) {
        reject(new LabError(`${argv.join(' ')}: no answer within ${timeoutMs} ms\n${tail(stderr)}`));
      } else if (res.code !== 0 && !opts.allowFail) {
        const why = signal ? `killed by ${signal}` : `exit ${res.code}`;
        reject(new LabError(`${argv.join(' ')}: ${why}\n${tail(stderr || stdout)}`));
      } else {
        resolve(res);
      }
    });
    child.stdin.on('error', () => {}); // a child that exits early closes its stdin; its exit code says why
    child.stdin.end(opts.input ?? '');
  });
}

/** Polls `probe` until it returns a value, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : '';
      throw new LabError(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
