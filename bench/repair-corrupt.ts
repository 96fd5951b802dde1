// play repair against the chaos play's minority corruption, on a local
// three-node cluster (127.0.0.121-123, free ports), with signed writes
// running: rooms written; n2 stopped, its copy of the rooms bucket damaged on
// disk as cluster_corrupt does it (HOW=bitflip: 8 bytes of the last message
// block inverted at flipOffsets, the default; HOW=truncate: the block cut to
// half), n2 started again; `play verify --tags deep` must name n2's copy;
// `play repair` under a steady stream of signed blob writes through n1 and
// n3; then the deep check must pass, and no acknowledged write (rooms before,
// blobs during) may be missing. Prints each step's verdict and seconds.
//   node --import tsx bench/repair-corrupt.ts
//   HOW=truncate ROOMS=500 node --import tsx bench/repair-corrupt.ts
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UnibusClient } from '../src/client/index.js';
import { damageBlock } from '../test/harness/damage.js';
import { BUCKETS } from '../src/daemon/store/names.js';
import { makeProject, opsInventory } from '../test/harness/project.js';
import { play, type PlayRun } from '../test/harness/play.js';
import { lostBlobs, startWriter } from '../test/harness/writer.js';

const HOW = process.env.HOW === 'truncate' ? 'truncate' : 'bitflip';
const ROOMS = Number(process.env.ROOMS ?? 300);
const STREAM = `KV_${BUCKETS.rooms}`;
const seed = randomBytes(32);
const p = await makeProject(opsInventory('127.0.0.12', seed), ['127.0.0.121', '127.0.0.122', '127.0.0.123']);
const base = ['-i', p.inventory, '--json'];
const why = (r: PlayRun) => `${r.stderr.slice(-400)}\n${r.results.filter((x) => x.status === 'failed').map((x) => `${x.task} @ ${x.host}: ${x.reason.slice(0, 1200)}`).join('\n')}`;
const httpPort = () => /^ {4}http: (\d+)/m.exec(readFileSync(p.inventory, 'utf8'))![1];
const url = (n: number) => `http://127.0.0.12${n}:${httpPort()}`;
const ops = (n: number) => new UnibusClient({ baseUrl: url(n), handle: 'ops', seed });
const timed = async (what: string, args: string[]) => {
  const t0 = Date.now();
  const r = await play(args, 600_000);
  console.log(`${what}: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return r;
};
/** The message blocks of `stream` in a node's store, the newest last. */
function blocks(node: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const f = join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (f.includes(`/streams/${STREAM}/msgs/`) && f.endsWith('.blk')) out.push(f);
    }
  };
  walk(join(p.stateOf(node), 'jetstream'));
  return out.sort((a, b) => Number(/(\d+)\.blk$/.exec(a)![1]) - Number(/(\d+)\.blk$/.exec(b)![1]));
}
let code = 0;
try {
  const up = await timed('bringup', ['bringup', ...base]);
  if (up.code !== 0) throw new Error(why(up));
  const rooms: string[] = [];
  for (let i = 0; i < ROOMS; i++) rooms.push((await ops(1).createRoom(`room-${i}`)).name);
  const stop = await timed('n2 stopped', ['stop', ...base, '--limit', 'n2']);
  if (stop.code !== 0) throw new Error(why(stop));
  const last = blocks('n2').at(-1);
  if (!last) throw new Error(`n2 holds no block of ${STREAM}`);
  const size = damageBlock(last, HOW);
  console.log(`n2's ${STREAM} ${last.split('/').slice(-1)[0]} (${size} bytes): ${HOW === 'truncate' ? 'cut to half' : '8 bytes inverted'}`);
  const start = await timed('n2 started', ['bringup', ...base, '--limit', 'n2']);
  if (start.code !== 0) console.log(why(start));
  const deep = await timed('deep check', ['verify', ...base, '--tags', 'deep']);
  const dr = deep.results.find((x) => x.task === 'every replica of every control-plane stream equal');
  console.log(`  ${dr?.status}: ${dr?.reason.split('\n').filter((l) => /differs|could not|diverged|equal/.test(l)).join(' | ').slice(0, 900)}`);
  if (deep.code === 0) console.log('  the deep check found nothing (the damage was not seen)');
  const writer = await startWriter([url(1), url(3)], 'ops', seed);
  const repair = await timed('repair under signed writes', ['repair', ...base]);
  const stats = await writer.stop();
  const rr = repair.results.find((x) => x.task === 'diverged copies rebuilt from a healthy majority');
  console.log(`  ${rr?.status}: ${rr?.reason.slice(0, 900)}`);
  if (repair.code !== 0) console.log(why(repair));
  const after = await timed('deep check after', ['verify', ...base, '--tags', 'deep']);
  if (after.code !== 0) console.log(why(after));
  const lost = await lostBlobs(ops(2), writer.room, stats.acked);
  const listed = new Set((await ops(2).listRooms()).rooms);
  const missing = rooms.filter((r) => !listed.has(r));
  console.log(`writes during the repair: ${stats.acked.length} acknowledged, ${stats.retries} retries, ${stats.failed} failed, ${lost.length} lost (read through n2); rooms before: ${missing.length} of ${rooms.length} missing`);
  if (repair.code !== 0 || after.code !== 0 || lost.length || missing.length || stats.failed) code = 1;
} finally {
  await play(['stop', ...base]).catch(() => undefined);
  await p.cleanup();
}
process.exit(code);
