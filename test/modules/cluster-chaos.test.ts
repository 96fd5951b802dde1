// The chaos checker on hand-made journals (a lost acknowledged write, a 2xx
// inside the minority window, a clean journal), the journal's parse errors,
// and the workload key and workload modules on the recording fake.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lostWrites, parseAttempts, parseMarkers, summarizeJournal, type Attempt, type Marker } from '../../src/controller/chaos/journal.js';
import { rawPublicKey } from '../../src/protocol/ed25519.js';
import { getModule } from '../../src/modules/index.js';
import { isSecret } from '../../src/secret.js';
import { FakeTransport } from '../harness/fake-transport.js';
import { fakeHost, makeCtx } from './helpers.js';

const T0 = 1_800_000_000_000;
let seq = 0;
const at = (node: string, sentMs: number, status: number, o: Partial<Attempt> = {}): Attempt => {
  const s = o.seq ?? ++seq;
  return { seq: s, attempt: 1, node, room: `chaos-r-${s}`, sent_at: T0 + sentMs, replied_at: T0 + sentMs + (o.replied_at ?? 20), status, ...o, ...(o.replied_at !== undefined ? { replied_at: T0 + sentMs + o.replied_at } : {}) };
};
const WINDOW: Marker[] = [
  { mark: 'minority_start', at: T0 + 10_000, minority: 'n3', frozen: ['n1', 'n2'] },
  { mark: 'minority_end', at: T0 + 16_000, minority: 'n3' },
];
/** Writes before, inside and after the window, as a healthy cluster answers them. */
function cleanJournal(): Attempt[] {
  return [
    at('n1', 0, 201), at('n2', 100, 201), at('n3', 200, 201),
    at('n1', 3000, 0, { error: 'ECONNREFUSED' }), at('n1', 3300, 503, { seq: seq, attempt: 2 }), at('n1', 3900, 201, { seq: seq, attempt: 3 }),
    at('n3', 10_500, 503), at('n3', 11_000, 0, { error: 'TimeoutError', replied_at: 3000 }), at('n1', 12_000, 503, { replied_at: 2000 }),
    // Sent inside the window, committed once quorum was back: not served without it.
    at('n3', 15_500, 201, { replied_at: 1500 }),
    at('n2', 17_000, 201), at('n3', 17_100, 201),
  ];
}

describe('chaos checker', () => {
  it('a clean journal passes with its counts', () => {
    const s = summarizeJournal('r', cleanJournal(), WINDOW);
    assert.deepEqual(s.violations, []);
    assert.deepEqual([s.sent, s.acked, s.failed, s.retried, s.refused_without_quorum], [12, 7, 3, 2, 2]);
    assert.deepEqual(lostWrites(s.acked_rooms, { n1: [], n2: [], n3: [] }), []);
  });

  it('a 2xx sent and answered inside the minority window is reported, on the minority or a frozen node', () => {
    for (const node of ['n3', 'n1']) {
      const bad = at(node, 12_000, 201, { replied_at: 30 });
      const s = summarizeJournal('r', [...cleanJournal(), bad], WINDOW);
      assert.equal(s.violations.length, 1);
      assert.match(s.violations[0]!, new RegExp(`served without quorum: ${node} answered 201 to write ${bad.seq} \\(room ${bad.room}\\) sent 2000 ms into the minority window`));
    }
  });

  it('an acknowledged write missing from a node is reported with the nodes that lost it', () => {
    const s = summarizeJournal('r', cleanJournal(), WINDOW);
    const room = [...s.acked_rooms.keys()][2]!;
    const lost = lostWrites(s.acked_rooms, { n1: [room], n2: [], n3: [room] });
    assert.equal(lost.length, 1);
    assert.match(lost[0]!, new RegExp(`^acknowledged write lost: room ${room} \\(acknowledged by n3 at .*\\) missing on n1, n3$`));
  });

  it('a run that never exercised the loss of quorum, or acknowledged nothing, proves nothing', () => {
    const noWindow = summarizeJournal('r', cleanJournal(), []);
    assert.match(noWindow.violations.join(), /no minority window in the journal/);
    const noRefusal = summarizeJournal('r', cleanJournal().filter((a) => a.node !== 'n3' || a.status === 201), WINDOW);
    assert.match(noRefusal.violations.join(), /no request reached the minority node n3 inside the minority window/);
    const nothing = summarizeJournal('r', cleanJournal().map((a) => ({ ...a, status: 503 })), WINDOW);
    assert.match(nothing.violations.join(), /no write was acknowledged/);
  });

  it('parses ndjson, skips a torn last line, and names file:line of a bad record', () => {
    const good = JSON.stringify(at('n1', 0, 201));
    assert.equal(parseAttempts('w', `${good}\n${good.slice(0, 20)}`).length, 1);
    assert.throws(() => parseAttempts('w.ndjson', `${good}\n{"seq":"x"}\n${good}\n`), /^ChaosJournalError: w.ndjson:2: seq: expected a number$/);
    assert.throws(() => parseAttempts('w.ndjson', `nope\n${good}\n`), /w.ndjson:1: malformed JSON/);
    assert.throws(() => parseMarkers('m.ndjson', '{"mark":"later","at":1,"minority":"n1"}\n'), /m.ndjson:1: mark: expected minority_start or minority_end/);
  });
});

describe('cluster_chaos_key', () => {
  const key = getModule('cluster_chaos_key');
  const ctx = (t: FakeTransport) => makeCtx(t, { baseDirs: ['/proj'] });
  it('absent: a new seed uploaded 0600 as a secret; the registered pubkey is its own', async () => {
    const t = new FakeTransport('controller');
    const plan = await key.plan({}, ctx(t));
    assert.equal(plan.changed, true);
    const up = plan.commands.find((c) => c.kind === 'upload')!;
    assert.ok(up.kind === 'upload' && up.path === '/proj/secrets/chaos.key' && up.mode === 0o600 && isSecret(up.content));
    const seed = Buffer.from((up as { content: { revealString(): string } }).content.revealString().trim(), 'hex');
    assert.equal(plan.result!.pubkey, rawPublicKey(seed).toString('hex'));
    assert.ok(!JSON.stringify(plan).includes(seed.toString('hex')), 'the seed never shows in the plan');
  });
  it('present: reused (no change), its pubkey registered; a bad file is refused, not overwritten', async () => {
    const seed = 'ab'.repeat(32);
    // A host that answers the path facts (stat) from its files.
    const t = fakeHost('controller').addFile('/proj/secrets/chaos.key', seed + '\n', { mode: 0o600 });
    const plan = await key.plan({}, ctx(t));
    assert.deepEqual([plan.changed, plan.commands.length, plan.result!.pubkey], [false, 0, rawPublicKey(Buffer.from(seed, 'hex')).toString('hex')]);
    t.addFile('/proj/secrets/chaos.key', seed + '\n', { mode: 0o644 });
    const loose = await key.plan({}, ctx(t));
    assert.deepEqual([loose.changed, loose.reason, loose.commands.map((c) => c.kind === 'exec' && c.argv.join(' '))], [true, 'workload key mode 0644 -> 0600', ['chmod 0600 -- /proj/secrets/chaos.key']]);
    t.addFile('/proj/secrets/chaos.key', 'not a seed');
    const bad = await key.plan({}, ctx(t));
    assert.equal(bad.failed, true);
    assert.match(bad.reason, /chaos.key: expected a 32-byte Ed25519 seed .*not overwritten/);
  });
});

describe('cluster_chaos_workload', () => {
  const wl = getModule('cluster_chaos_workload');
  const vars = { nodes: [{ name: 'n1', route_ip: '127.0.0.11', ports: { http: 8470, nats: 4250 } }, { name: 'n2', route_ip: '127.0.0.12', ports: { http: 8470, nats: 4250 } }] };
  const ctx = (t: FakeTransport) => makeCtx(t, { baseDirs: ['/proj'], vars });
  it('stopped: only the recorded PID, and only while its command line is the workload', async () => {
    const t = new FakeTransport('controller');
    assert.equal((await wl.plan({ state: 'stopped' }, ctx(t))).changed, false);
    t.addFile('/proj/out/chaos/workload.pid', '4242\n/proj/out/chaos/r/workload.json\n');
    t.addFile('/proc/4242/cmdline', 'vim\0notes.txt\0');
    const reused = await wl.plan({ state: 'stopped' }, ctx(t));
    assert.deepEqual([reused.changed, reused.commands.length], [false, 0], 'a reused PID is never signalled');
    t.addFile('/proc/4242/cmdline', '/usr/bin/node\0/u/src/controller/steps/chaos-workload.ts\0/proj/out/chaos/r/workload.json\0');
    const stop = await wl.plan({ state: 'stopped' }, ctx(t));
    assert.equal(stop.changed, true);
    const c = stop.commands[0]!;
    assert.ok(c.kind === 'exec' && c.argv.at(-1) === 'stop' && JSON.parse(String(c.stdin)).pidFile === '/proj/out/chaos/workload.pid');
  });
  it('started: a detached start through every node, the key named by path only', async () => {
    const t = new FakeTransport('controller');
    const plan = await wl.plan({ state: 'started', key: '/proj/secrets/chaos.key' }, ctx(t));
    const start = plan.commands.at(-1)!;
    assert.ok(start.kind === 'exec' && start.argv.at(-1) === 'start');
    const o = JSON.parse(String((start as { stdin: string }).stdin));
    assert.deepEqual(o.config.nodes, [{ name: 'n1', url: 'http://127.0.0.11:8470' }, { name: 'n2', url: 'http://127.0.0.12:8470' }]);
    assert.equal(o.config.keyFile, '/proj/secrets/chaos.key');
    assert.equal(o.config.parentPid, process.pid);
    assert.equal(o.config.runDir, `/proj/out/chaos/${plan.result!.run}`);
    assert.match(String(plan.result!.run), /^\d{8}-\d{6}$/);
    assert.deepEqual(t.execArgvs(), [], 'planning started nothing');
  });
});

describe('cluster_chaos_mark', () => {
  const mark = getModule('cluster_chaos_mark');
  const node = (name: string, ip: string) => ({ name, route_ip: ip, ports: { http: 8470, nats: 4250 } });
  const vars = { nodes: [node('n1', '127.0.0.11'), node('n2', '127.0.0.12'), node('n3', '127.0.0.13')] };
  it('refuses to mark a window unless the frozen nodes are a majority of the cluster', async () => {
    const t = new FakeTransport('controller');
    t.addFile('/proj/out/chaos/latest', 'r1\n');
    const ctx = makeCtx(t, { baseDirs: ['/proj'], vars });
    const short = await mark.plan({ minority: 'n3', frozen: ['n1'], hold: 6 }, ctx);
    assert.equal(short.failed, true);
    assert.match(short.reason, /not a minority: 1 of 3 nodes frozen \(n1\), n3 left/);
    assert.equal(short.commands.length, 0);
    const self = await mark.plan({ minority: 'n3', frozen: ['n3', 'n1'], hold: 6 }, ctx);
    assert.equal(self.failed, true);
    const ok = await mark.plan({ minority: 'n3', frozen: ['n1', 'n2'], hold: 6 }, ctx);
    assert.equal(ok.failed, undefined, ok.reason);
    assert.equal(ok.commands.length, 1);
  });
});
