// membershipd's own CPU per signed write with NATS taken out: the real h3 app,
// /v1 routes, signature check and handlers in a process of their own, with
// the store answered in-process (a map behind the KV methods the handlers
// call). Set beside bench/api-writes.ts's "membershipd CPU per op", the
// difference is what the daemon spends on its two replicated writes: nats.js
// (protocol, TLS) and the kernel's loopback work.
// The sealed-key upload of bench/api-writes.ts, first paced at one node's
// share of that bench's rate (RATE, 330 req/s: requests then mostly arrive one
// per turn of the event loop, as they do there), then as fast as CONCURRENCY
// connections go.
// Run by hand: node --import tsx bench/daemon-cpu.ts [requests per round]
// (RATE, CONCURRENCY (16), ROUNDS (3), WARMUP (12,000) and MEMBERSHIPD_NODE_ARGS
// in the environment.)
import { fork } from 'node:child_process';
import type { KV } from '@nats-io/kv';
import { createRouter } from 'h3';
import { createControlApp, listenControlApp } from '../src/daemon/http/app.js';
import { registerV1Routes } from '../src/daemon/http/routes.js';
import type { Store } from '../src/daemon/store/buckets.js';
import type { MembersRecord, UserRecord } from '../src/protocol/model.js';
import { UnibusClient } from '../src/client/client.js';
import { makeUser } from '../test/harness/control-plane.js';
import { membershipdNodeFlags, sleep } from './lib/cluster.js';
import { JetStreamApiError } from '@nats-io/jetstream';
import { BUCKETS } from '../src/daemon/store/names.js';
import { cpuSecs, drive, pct, timed, whyText } from './lib/stats.js';

const HOST = '127.0.0.64';
const f = (x: number) => x.toFixed(1);

/** The KV methods the handlers call, over a map: values as nats.js returns them, revisions counting up (`seq()`: the newest). */
function memKv(): KV & { seq(): number } {
  const m = new Map<string, { value: Uint8Array; revision: number }>();
  let seq = 0;
  const enc = (v: string | Uint8Array) => (typeof v === 'string' ? new TextEncoder().encode(v) : v);
  const kv = {
    async get(k: string) {
      const e = m.get(k);
      return e ? { key: k, operation: 'PUT', length: e.value.length, revision: e.revision, value: e.value, json: () => JSON.parse(new TextDecoder().decode(e.value)) } : null;
    },
    async create(k: string, v: string | Uint8Array) {
      if (m.has(k)) throw new Error(`${k} exists`);
      m.set(k, { value: enc(v), revision: ++seq });
      return seq;
    },
    async put(k: string, v: string | Uint8Array) {
      m.set(k, { value: enc(v), revision: ++seq });
      return seq;
    },
    seq: () => seq,
  };
  return kv as unknown as KV & { seq(): number };
}

async function serve(signPub: string): Promise<void> {
  const kv = { users: memKv(), rooms: memKv(), members: memKv(), roomKeys: memKv(), roomsByMember: memKv(), nonces: memKv() };
  const at = new Date().toISOString();
  await kv.users.put('admin', JSON.stringify({ handle: 'admin', sign_pub: signPub, role: 'admin', status: 'active', created_at: at } satisfies UserRecord));
  await kv.members.put('bench', JSON.stringify({ room: 'bench', epoch: 1, rekey_required: false, members: { admin: { added_at: at, added_by: 'admin' } } } satisfies MembersRecord));
  // The nonce history check (store/nonce-history.ts) reads the stream's info:
  // a file-backed stream's answer, as the default disk nonce store gives.
  // Its last sequence is the nonce map's newest revision.
  const jsm = { streams: { info: async () => ({ config: { storage: 'file', num_replicas: 1 }, state: { last_seq: kv.nonces.seq() } }) } };
  // A nonce claim is a publish to the bucket's subject with the expected last sequence (store/nonces.ts).
  const js = {
    publish: async (subject: string, data: string, o: { expect?: { lastSubjectSequence?: number } }) => {
      const key = subject.slice(`$KV.${BUCKETS.nonces}.`.length);
      const cur = await kv.nonces.get(key);
      if ((cur?.revision ?? 0) !== (o.expect?.lastSubjectSequence ?? 0)) throw new JetStreamApiError({ code: 400, err_code: 10071, description: 'wrong last sequence' });
      return { seq: await kv.nonces.put(key, data) };
    },
  };
  const store = { kv, js, jsm, replicas: 1, opTimeoutMs: 2000 } as unknown as Store;
  const app = createControlApp({
    node: { health: async () => ({ status: 'ok', posture: {} }) } as never,
    plane: { registerRoutes: (router: ReturnType<typeof createRouter>) => registerV1Routes(router, { store }) },
  });
  const l = await listenControlApp(app, HOST, 0);
  // Exit on SIGTERM, so that --cpu-prof in MEMBERSHIPD_NODE_ARGS writes its profile.
  process.once('SIGTERM', () => process.exit(0));
  process.send!(l.url);
}

if (process.argv[2] === 'serve') {
  await serve(process.argv[3]!);
} else {
  const N = Number(process.argv[2] ?? 3000);
  const RATE = Number(process.env.RATE ?? 330);
  const C = Number(process.env.CONCURRENCY ?? 16);
  const ROUNDS = Number(process.env.ROUNDS ?? 3);
  const WARMUP = Number(process.env.WARMUP ?? 12_000);
  const flags = membershipdNodeFlags();
  const admin = makeUser('admin');
  const child = fork(import.meta.filename, ['serve', admin.sign_pub], { execArgv: [...flags, '--import', 'tsx'], stdio: 'inherit' });
  try {
    const url = await Promise.race([new Promise<string>((r) => child.once('message', (m) => r(String(m)))), sleep(60_000).then(() => Promise.reject(new Error('server: not listening within 60 s')))]);
    const client = new UnibusClient({ baseUrl: url.replace(/\/$/, ''), handle: 'admin', seed: admin.seed });
    const sealed = Buffer.alloc(48, 7).toString('base64');
    const upload = () => client.putKeys('bench', 1, { admin: sealed });
    /** n uploads, at most C in flight, started no faster than `rate` per second (0: unpaced); any failure ends the run. */
    const measure = async (n: number, rate: number) => {
      const c0 = cpuSecs(child.pid!);
      const t = await drive(n, C, upload, timed(), rate);
      if (t.errors) throw new Error(`${t.errors} of ${n} uploads failed: ${whyText(t)}`);
      return { rps: n / t.secs, cpuMs: ((cpuSecs(child.pid!) - c0) * 1000) / n, p50: pct(t.lat, 50), p99: pct(t.lat, 99) };
    };
    await measure(WARMUP, 0);
    console.log(`membershipd without NATS: sealed-key uploads, ${N} per round, ${ROUNDS} rounds, node flags ${flags.join(' ') || '(none)'}`);
    for (const [what, rate] of [[`paced at ${RATE} req/s`, RATE], [`unpaced, ${C} concurrent`, 0]] as const) {
      for (let r = 0; r < ROUNDS; r++) {
        const x = await measure(N, rate);
        console.log(`  ${what}, round ${r + 1}: ${f(x.rps)} req/s, CPU per request ${x.cpuMs.toFixed(3)} ms, p50 ${f(x.p50)} ms, p99 ${f(x.p99)} ms`);
      }
    }
  } finally {
    child.kill('SIGTERM');
  }
  process.exit(0);
}
