// Starts bench/lib/bare-server.ts beside each node of a bench cluster: one
// process per node, with the node flags membershipd runs with.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from '../../test/harness/ports.js';
import { membershipdNodeFlags, type Run } from './cluster.js';

export interface BareServers {
  urls: string[];
  pids: number[];
  /** SIGTERM to each (by PID), then SIGKILL after 5 s to any still running. */
  stop(): Promise<void>;
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}

export async function startBareServers(run: Run, signPub: string, nonceBucket: string, dataBucket: string, timeoutMs = 30_000): Promise<BareServers> {
  const script = join(import.meta.dirname, 'bare-server.ts');
  const procs: ChildProcess[] = [];
  const urls: string[] = [];
  const stop = async () => {
    await Promise.all(
      procs.map(async (p) => {
        p.kill('SIGTERM');
        const t = setTimeout(() => p.kill('SIGKILL'), 5000);
        await exited(p);
        clearTimeout(t);
      }),
    );
  };
  try {
    for (let i = 0; i < run.hosts.length; i++) {
      const host = run.hosts[i];
      const port = await freePort(host);
      const p = spawn(process.execPath, [...membershipdNodeFlags(), '--import', 'tsx', script, join(run.dir, run.names[i]), run.clientCa, host, String(port), signPub, nonceBucket, dataBucket], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      procs.push(p);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`bare server ${i + 1}: not ready within ${timeoutMs} ms`)), timeoutMs);
        p.stdout!.once('data', () => (clearTimeout(t), resolve()));
        p.once('exit', (code) => (clearTimeout(t), reject(new Error(`bare server ${i + 1}: exited with ${code} before it was ready`))));
      });
      p.stdout!.resume();
      urls.push(`http://${host}:${port}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { urls, pids: procs.map((p) => p.pid!), stop };
}
