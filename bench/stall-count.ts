// Does a nats-server release still come back from a restart unheard by its
// peers (the case membershipd's stall watch exists for, daemon/nats/
// stall-watch.ts)? A local three-node cluster (127.0.0.41-43, free ports) on
// each version of VERSIONS (default: every release unibus ships), put through
// ROLLING runs of `play restart` (three node restarts each) and WHOLE stops
// and starts of the whole cluster (`play stop`, then `play bringup`); then the
// stall watch's own restarts counted in every node's membershipd log, by
// kind: "no meta leader known" and "not counted current by its leaders".
// Also counted: plays that failed, and the longest `play restart`.
//   node --import tsx bench/stall-count.ts
//   VERSIONS=2.15.1 ROLLING=10 WHOLE=10 node --import tsx bench/stall-count.ts
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shippedVersions } from '../src/inventory/nats-releases.js';
import { makeProject } from '../test/harness/project.js';
import { play } from '../test/harness/play.js';
import { ROOT } from '../test/harness/root.js';

const IPS = ['127.0.0.41', '127.0.0.42', '127.0.0.43'];
const NODES = ['n1', 'n2', 'n3'];
const versions = (process.env.VERSIONS ?? shippedVersions().join(' ')).split(/\s+/).filter(Boolean);
const ROLLING = Number(process.env.ROLLING ?? 10);
const WHOLE = Number(process.env.WHOLE ?? 10);
const STALL = /restarting nats-server \(pid \d+\): (no meta leader known|not counted current by its leaders)/;

const rows: string[] = [];
for (const version of versions) {
  const inv = readFileSync(join(ROOT, 'inventory.yaml'), 'utf8')
    .replace(/127\.0\.0\.1([123])\b/g, '127.0.0.4$1')
    .replace(/^ {4}version: "[0-9.]+"$/m, `    version: "${version}"`);
  if (!inv.includes(`version: "${version}"`)) throw new Error('inventory.yaml has no cluster.nats_server.version line to set');
  const p = await makeProject(inv, IPS);
  const base = ['-i', p.inventory, '--json'];
  const failed: string[] = [];
  const restartS: number[] = [];
  try {
    const up = await play(['bringup', ...base], 600_000);
    if (up.code !== 0) throw new Error(`bringup on ${version} failed:\n${up.stderr.slice(-800)}`);
    for (let i = 0; i < ROLLING; i++) {
      const t0 = Date.now();
      const r = await play(['restart', ...base], 900_000);
      restartS.push((Date.now() - t0) / 1000);
      if (r.code !== 0) failed.push(`restart ${i + 1}: exit ${r.code}`);
      process.stdout.write(`${version}: play restart ${i + 1}/${ROLLING} exit ${r.code} in ${restartS.at(-1)!.toFixed(0)} s\n`);
    }
    for (let i = 0; i < WHOLE; i++) {
      const s = await play(['stop', ...base], 300_000);
      const b = await play(['bringup', ...base], 600_000);
      if (s.code !== 0 || b.code !== 0) failed.push(`stop/start ${i + 1}: exit ${s.code}/${b.code}`);
      process.stdout.write(`${version}: stop and start ${i + 1}/${WHOLE} exit ${s.code}/${b.code}\n`);
    }
    const kinds = { leaderless: 0, behind: 0 };
    for (const n of NODES) {
      for (const line of readFileSync(join(p.stateOf(n), 'membershipd.log'), 'utf8').split('\n')) {
        const m = STALL.exec(line);
        if (m) kinds[m[1]!.startsWith('no meta') ? 'leaderless' : 'behind']++;
      }
    }
    rows.push(`| ${version} | ${ROLLING * 3} | ${WHOLE} | ${kinds.leaderless} | ${kinds.behind} | ${failed.length ? failed.join('; ') : 'none'} | ${Math.max(...restartS).toFixed(0)} s |`);
  } finally {
    await play(['stop', ...base], 300_000).catch(() => undefined);
    await p.cleanup();
  }
}
console.log('\n| nats-server | node restarts (rolling) | whole-cluster stop/starts | stall restarts: no meta leader | stall restarts: not current | plays failed | longest play restart |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
