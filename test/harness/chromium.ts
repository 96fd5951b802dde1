// Headless Chromium (Debian's `chromium`, installed by scripts/setup-tests.sh)
// for pages the tests render: loads a local file and returns the DOM after
// its scripts ran. It runs in a network namespace of its own with nothing
// in it (`unshare --net`), so it can reach no address at all; a fresh
// profile folder each time; bounded, and killed by its PID on the bound.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export async function dumpDom(file: string, timeoutMs = 60_000): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'unibus-chromium-'));
  const argv = [
    '--net', CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--no-default-browser-check', `--user-data-dir=${profile}`, '--virtual-time-budget=5000', '--dump-dom', `file://${file}`,
  ];
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = spawn('unshare', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (err += c));
      const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), timeoutMs);
      child.on('error', (e) => (clearTimeout(timer), reject(e)));
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (code === 0 && out.includes('</html>')) resolve(out);
        else reject(new Error(`chromium exited ${code ?? signal}: ${err.trim().split('\n').slice(-5).join(' | ')}`));
      });
    });
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
