// Minimal reproduction, nats-server alone (no membershipd): a JetStream stream
// leader cut off from its peers by a network partition keeps answering reads
// ($JS.API.STREAM.MSG.GET, allow_direct off: the leader's own answer) while
// the majority side elects a new leader and acknowledges newer writes, so a
// read through the old leader misses writes acknowledged before it began.
//
// On the lab's three Debian hosts (test/lab, nats-server from Debian trixie):
//   1. a bare 3-node cluster (no TLS, no auth) on ports 4333/6333, one R3
//      file stream REPRO (subjects repro.>), one message repro.x = 0
//   2. the stream's leader L is cut from both peers with nftables on L
//      (drop to and from their addresses; the controller still reaches L)
//   3. for HOLD_S seconds, every 100 ms: publish repro.x = i through a
//      majority node (acknowledged or not), and read repro.x's last message
//      through L
//   4. heal, stop every nats-server started here (by its pid file), remove
//      the folders
// Prints each read through L that missed a write acknowledged before the
// read began, how long L kept answering, and when the majority acknowledged
// its first write after the cut. Exit 1 when a stale read was seen.
// Run by hand: node --import tsx bench/repro-partitioned-leader.ts
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ensureLab, labSsh, type LabInfo } from '../test/lab/lab.js';
import { sleep } from '../src/util/time.js';

const HOLD_S = Number(process.env.HOLD_S ?? 25);
const DIR = '/root/unibus-repro';
const CLIENT = 4333;
const ROUTE = 6333;
const TABLE = 'unibus_repro';

const lab: LabInfo = await ensureLab(3);
const hosts = lab.hosts.slice(0, 3);
const sh = async (i: number, cmd: string) => {
  const r = await labSsh(lab, hosts[i]!, cmd, 120_000);
  if (r.code !== 0) throw new Error(`${hosts[i]!.name}: ${cmd.slice(0, 80)}: ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
};

function conf(i: number): string {
  const routes = hosts.filter((_, j) => j !== i).map((h) => `nats-route://${h.ip}:${ROUTE}`).join(', ');
  return [`server_name: ${hosts[i]!.name}`, `listen: 0.0.0.0:${CLIENT}`, `jetstream { store_dir: "${DIR}/js" }`, `cluster { name: repro, listen: 0.0.0.0:${ROUTE}, routes: [${routes}] }`, ''].join('\n');
}

const stopAll = () =>
  Promise.all(
    hosts.map((_, i) =>
      sh(i, `nft delete table inet ${TABLE} 2>/dev/null; p=$(cat ${DIR}/nats.pid 2>/dev/null); if [ -n "$p" ] && tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q "${DIR}/nats.conf"; then kill $p; for k in $(seq 50); do [ -d /proc/$p ] || break; sleep 0.1; done; fi; rm -rf ${DIR}; true`),
    ),
  );

interface Read { invoke: number; complete: number; seq: number | null; error?: string }
interface Write { invoke: number; complete: number; seq: number | null; value: number }

const conns: NatsConnection[] = [];
let code = 0;
try {
  await stopAll();
  const version = await sh(0, 'nats-server --version');
  for (let i = 0; i < 3; i++) {
    await sh(i, `command -v nft >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get -q -y update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -q -y install nftables >/dev/null; }`);
    await sh(i, `mkdir -p ${DIR} && cat > ${DIR}/nats.conf <<'EOF'\n${conf(i)}EOF\nsetsid nats-server -c ${DIR}/nats.conf -P ${DIR}/nats.pid > ${DIR}/log 2>&1 < /dev/null & sleep 0.2; true`);
  }
  for (const h of hosts) conns.push(await connect({ servers: `nats://${h.ip}:${CLIENT}`, timeout: 5000, reconnect: true, maxReconnectAttempts: -1 }));
  const jsm = await jetstreamManager(conns[0]!, { timeout: 5000 });
  for (let t = 0; ; t++) {
    const r = await jsm.streams.add({ name: 'REPRO', subjects: ['repro.>'], num_replicas: 3, allow_direct: false }).then(() => null, (e: Error) => e);
    if (!r) break;
    if (t > 60) throw r;
    await sleep(500);
  }
  const js0 = jetstream(conns[0]!, { timeout: 5000 });
  await js0.publish('repro.x', '0');
  const info = await jsm.streams.info('REPRO');
  const leader = info.cluster?.leader;
  const li = hosts.findIndex((h) => h.name === leader);
  if (li < 0) throw new Error(`no leader for REPRO: ${JSON.stringify(info.cluster)}`);
  const mi = (li + 1) % 3;
  console.log(`${version}; REPRO leader ${leader}; cutting it from ${hosts.filter((_, j) => j !== li).map((h) => h.name).join(', ')}; writes through ${hosts[mi]!.name}, reads through ${leader}`);
  const peers = hosts.filter((_, j) => j !== li).map((h) => h.ip).join(', ');
  await sh(li, `nft -f - <<'EOF'\ntable inet ${TABLE} {\n chain i { type filter hook input priority -10; policy accept; ip saddr { ${peers} } drop; }\n chain o { type filter hook output priority -10; policy accept; ip daddr { ${peers} } drop; }\n}\nEOF`);
  const t0 = performance.now();
  const now = () => performance.now() - t0;
  const jsM = jetstream(conns[mi]!, { timeout: 1000 });
  const reads: Read[] = [];
  const writes: Write[] = [];
  const stop = Date.now() + HOLD_S * 1000;
  let i = 1;
  const writer = (async () => {
    while (Date.now() < stop) {
      const w: Write = { invoke: now(), complete: 0, seq: null, value: i++ };
      try {
        w.seq = (await jsM.publish('repro.x', String(w.value))).seq;
      } catch {
        /* not acknowledged: may or may not be in */
      }
      w.complete = now();
      writes.push(w);
      await sleep(100);
    }
  })();
  const reader = (async () => {
    while (Date.now() < stop) {
      const r: Read = { invoke: now(), complete: 0, seq: null };
      try {
        const m = await conns[li]!.request('$JS.API.STREAM.MSG.GET.REPRO', JSON.stringify({ last_by_subj: 'repro.x' }), { timeout: 1000 });
        const body = m.json<{ message?: { seq: number }; error?: { description: string } }>();
        if (body.message) r.seq = body.message.seq;
        else r.error = body.error?.description ?? 'no message';
      } catch (e) {
        r.error = (e as Error).message.slice(0, 60);
      }
      r.complete = now();
      reads.push(r);
      await sleep(100);
    }
  })();
  await Promise.all([writer, reader]);
  const acked = writes.filter((w) => w.seq !== null);
  const stale = reads.filter((r) => r.seq !== null && acked.some((w) => w.complete < r.invoke && w.seq! > r.seq!));
  const answered = reads.filter((r) => r.seq !== null);
  const firstAck = acked[0];
  console.log(`after the cut: ${answered.length} of ${reads.length} reads through the old leader answered, the last one ending at ${answered.length ? (answered.at(-1)!.complete / 1000).toFixed(2) : '-'} s`);
  console.log(`the majority acknowledged its first write at ${firstAck ? (firstAck.complete / 1000).toFixed(2) : '-'} s (seq ${firstAck?.seq ?? '-'}); ${acked.length} of ${writes.length} writes acknowledged`);
  console.log(`stale reads (a write acknowledged before the read began, missing from it): ${stale.length}`);
  for (const r of stale.slice(0, 5)) {
    const newest = acked.filter((w) => w.complete < r.invoke).at(-1)!;
    console.log(`  read at ${(r.invoke / 1000).toFixed(2)}-${(r.complete / 1000).toFixed(2)} s returned seq ${r.seq}; seq ${newest.seq} was acknowledged at ${(newest.complete / 1000).toFixed(2)} s`);
  }
  code = stale.length ? 1 : 0;
} finally {
  for (const c of conns) await c.close().catch(() => undefined);
  await stopAll();
}
process.exit(code);
