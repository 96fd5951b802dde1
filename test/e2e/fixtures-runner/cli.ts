// Runs `unibus play` as a child process (the real CLI through tsx) and
// collects its JSON events. Every child is bounded and killed by its pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const ENTRY = "import('./src/cli/main.ts').then((m) => m.main(process.argv.slice(1))).then((c) => process.exit(c), (e) => { console.error(e); process.exit(1); })";

export interface HostResultEvent {
  event: 'host_result';
  task: string;
  host: string;
  status: string;
  handler: boolean;
  reason: string;
}

export interface PlayRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  events: Record<string, unknown>[];
  results: HostResultEvent[];
  recap: Record<string, { ok: number; changed: number; failed: number; skipped: number; unreachable: number }> | undefined;
}

export interface Started {
  child: ChildProcess;
  done: Promise<PlayRun>;
  /** Resolves when a stdout line satisfies pred (or rejects when the run ends first). */
  waitForLine(pred: (line: string) => boolean): Promise<string>;
}

export function startPlay(args: string[], timeoutMs = 240_000): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', ENTRY, 'play', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  const watchers: { pred: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  let partial = '';
  child.stdout!.on('data', (b: Buffer) => {
    stdout += b.toString();
    partial += b.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) for (const w of [...watchers]) if (w.pred(l)) {
      watchers.splice(watchers.indexOf(w), 1);
      w.resolve(l);
    }
  });
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<PlayRun>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      for (const w of watchers.splice(0)) w.reject(new Error(`run ended (code ${code}) before the line was seen\n${stderr}`));
      const events = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const recap = events.find((e) => e.event === 'recap') as { hosts: PlayRun['recap'] } | undefined;
      resolve({ code, signal, stdout, stderr, events, results: events.filter((e) => e.event === 'host_result') as unknown as HostResultEvent[], recap: recap?.hosts });
    });
  });
  return {
    child,
    done,
    waitForLine: (pred) => new Promise((resolve, reject) => watchers.push({ pred, resolve, reject })),
  };
}

export function play(args: string[], timeoutMs?: number): Promise<PlayRun> {
  return startPlay(args, timeoutMs).done;
}

/** task/host/status triples, sorted, for comparing a check with a run. */
export function outcomes(r: PlayRun): string[] {
  return r.results.map((x) => `${x.handler ? 'handler ' : ''}${x.task} @ ${x.host}: ${x.status}`).sort();
}
