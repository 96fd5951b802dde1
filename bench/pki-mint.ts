// Minting a full PKI set (two CAs, per node: server + route leaf, nkey; the
// cluster password) from nothing, for 3 and for 30 nodes. Also the no-op
// re-run (plan only). Median of several runs. Target: under 1 s for 3 nodes.
// Run: node --import tsx bench/pki-mint.ts [runs]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPki, isNoop, planPki, type PkiNode } from '../src/pki/index.js';

const RUNS = Number(process.argv[2] ?? 7);

function nodes(n: number): PkiNode[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `n${i + 1}`,
    hostname: `n${i + 1}.bus.example`,
    publicIp: `203.0.113.${i + 1}`,
    wgIp: `10.0.0.${i + 1}`,
  }));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function once(count: number): Promise<{ mint: number; rerun: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'unibus-pki-bench-'));
  try {
    const opts = { outDir: join(dir, 'out'), secretsDir: join(dir, 'secrets'), nodes: nodes(count) };
    const t0 = performance.now();
    await applyPki(await planPki(opts));
    const t1 = performance.now();
    const plan = await planPki(opts);
    const t2 = performance.now();
    if (!isNoop(plan)) throw new Error('re-run was not a no-op');
    return { mint: t1 - t0, rerun: t2 - t1 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// The first run pays for JIT warm-up (a CLI run pays it too): shown apart.
const cold = await once(3);
console.log(` 3 nodes, first run in this process: mint ${cold.mint.toFixed(1)} ms`);
for (const count of [3, 30]) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once(count));
  const mint = median(runs.map((r) => r.mint));
  const rerun = median(runs.map((r) => r.rerun));
  const target = count === 3 ? (mint < 1000 ? '  (target < 1000 ms: met)' : '  (target < 1000 ms: MISSED)') : '';
  console.log(`${String(count).padStart(2)} nodes: mint ${mint.toFixed(1)} ms, no-op re-run ${rerun.toFixed(1)} ms (median of ${RUNS})${target}`);
}
