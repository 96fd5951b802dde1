// Runs `unibus play` as a child process (the real CLI through tsx) and
// collects its JSON events. Every child is bounded and killed by its pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_FROM_SOURCE as ENTRY, ROOT } from './root.js';

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

/**
 * Where a run starts: from source in the clone (the default, quicker to
 * iterate), or as a user types it, `unibus play ...` (the built bin/unibus.js)
 * in the project's own folder with its default ./inventory.yaml.
 */
export interface PlayFrom {
  /** The project folder to run in, as a user does; the built CLI is used. */
  userIn?: string;
}

export function startPlay(args: string[], timeoutMs = 240_000, from: PlayFrom = {}): Started {
  const argv = from.userIn ? [join(ROOT, 'bin', 'unibus.js'), 'play', ...args] : ['--import', 'tsx', '-e', ENTRY, 'play', ...args];
  if (from.userIn) assertBuilt();
  const child = spawn(process.execPath, argv, { cwd: from.userIn ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
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

export function play(args: string[], timeoutMs?: number, from?: PlayFrom): Promise<PlayRun> {
  return startPlay(args, timeoutMs, from).done;
}

/** The built CLI must be the sources' build, or a user-path test would test old code. */
function assertBuilt(): void {
  const built = join(ROOT, 'dist', 'cli', 'main.js');
  const newest = (dir: string): number => Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) =>
    e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs));
  if (!existsSync(built) || statSync(built).mtimeMs < newest(join(ROOT, 'src'))) {
    throw new Error(`${built} is older than src/: run \`npm run build\` (scripts/setup.sh does) before the end-to-end tests`);
  }
}

/** task/host/status triples, sorted, for comparing a check with a run. */
export function outcomes(r: PlayRun): string[] {
  return r.results.map((x) => `${x.handler ? 'handler ' : ''}${x.task} @ ${x.host}: ${x.status}`).sort();
}
