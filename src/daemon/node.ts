// One membershipd node: the supervised nats-server child (or an external
// NATS), the internal connection, the readiness write and the health view.
// The control plane (src/daemon/http/routes.ts) receives this as ControlNode.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV, KvOptions } from '@nats-io/kv';
import type { NodeOptions } from './flags.js';
import type { Preflight } from './preflight.js';
import { pickLoopbackPort } from './preflight.js';
import { loadOrCreateIdentity, readIdentity } from './nats/identity.js';
import { NatsSupervisor, type Logger } from './nats/supervisor.js';
import type { AllowUser, NatsConf } from './nats/conf.js';
import { connectInternal, openBucketWithRetry, retryWithin } from './nats/connect.js';
import { allPeersRouted, countPeers, evaluateHealth, fetchJsz, fetchServerHealth, fetchSnapshot, routeInMsgs, type HealthVerdict } from './nats/monitor.js';
import { leaderVerdict } from './nats/leader-view.js';
import { META_NOT_CURRENT, RouteTalk, STALL_REASON, StallWatch } from './nats/stall-watch.js';
import { ReplicaAudit, SOON_MS, type OwnCopy } from './nats/replica-audit.js';
import { Scrub, scrubReads, FIRST_MS as SCRUB_FIRST_MS, SOON_MS as SCRUB_SOON_MS } from './nats/scrub.js';
import type { HealthReport, HealthSource, Posture } from './http/healthz.js';
import { sleep } from '../util/time.js';

export const HEALTH_BUCKET = 'UNIBUS_health';
/** Cold multi-node starts need the meta group to settle before buckets exist. */
export const BUCKET_BUDGET_MS = 120_000;

export interface ControlNode extends HealthSource {
  readonly options: NodeOptions;
  /** Connected with the internal identity (full rights); reconnects across child restarts. */
  readonly nc: NatsConnection;
  /** The internal identity's public nkey (always kept in the rendered users). */
  readonly internalNkey: string;
  /** Creates or opens a bucket at --kv-replicas, retrying within the 120 s budget; its stream joins /healthz. */
  openBucket(name: string, opts?: Partial<KvOptions>): Promise<KV>;
  /** Adds stream names (e.g. OBJ_UNIBUS_blobs) that /healthz requires to have a leader. */
  watchStreams(names: string[]): void;
  /** Replaces the data-plane users: re-render, `nats-server -t`, atomic write, SIGHUP. No-op when unchanged. */
  setAllowlist(users: AllowUser[]): Promise<boolean>;
  /** Resolves after the first replicated write to UNIBUS_health; rejects when the 120 s budget runs out. */
  readonly ready: Promise<void>;
  /** Resolves once JetStream takes requests (a meta leader is known, in a cluster): buckets may be opened from then on. */
  readonly jetstreamUp: Promise<void>;
  /** The supervised child's PID (undefined with --nats-url). */
  readonly childPid: number | undefined;
}

export interface MembershipNode extends ControlNode {
  /** Re-render and validate; force also SIGHUPs an unchanged config (operator reload). */
  reload(force?: boolean): Promise<boolean>;
  stop(): Promise<void>;
}

export function postureOf(o: NodeOptions): Posture {
  return {
    bus_auth: o.busAuth,
    acl: o.busAuth === 'enforce' ? 'per-user' : 'none',
    tls: !!o.tls,
    cluster: o.clusterName ?? null,
    route_tls: !!o.routeTls,
    store: o.store,
    kv_replicas: o.kvReplicas,
  };
}

function buildConf(o: NodeOptions, pf: Preflight, nkey: string | null, monitorPort: number): NatsConf {
  return {
    serverName: o.serverName,
    host: o.bind,
    port: o.natsPort,
    monitorPort,
    storeDir: absolute(o.natsStore),
    pidFile: join(absolute(o.stateDir), 'nats-server.pid'),
    syncInterval: o.syncInterval,
    tls: o.tls ? { cert: absolute(o.tls.cert), key: absolute(o.tls.key) } : undefined,
    cluster: o.clusterName
      ? {
          name: o.clusterName,
          host: o.bind,
          port: o.clusterPort,
          routes: o.routes,
          auth: pf.routePass ? { user: o.clusterUser, pass: pf.routePass } : undefined,
          tls: o.routeTls ? { cert: absolute(o.routeTls.cert), key: absolute(o.routeTls.key), ca: absolute(o.routeTls.ca) } : undefined,
        }
      : undefined,
    internalNkey: nkey,
    allowlist: [],
    lameDuckDuration: '30s',
    lameDuckGracePeriod: '2s',
  };
}

function absolute(p: string): string {
  return p.startsWith('/') ? p : join(process.cwd(), p);
}

export interface StartExtras {
  /** Users rendered into the very first config (the last applied allowlist), so a restart without quorum enforces it. */
  initialAllowlist?: AllowUser[];
}

export async function startNode(o: NodeOptions, pf: Preflight, log: Logger, extras: StartExtras = {}): Promise<MembershipNode> {
  await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
  const id = await loadOrCreateIdentity(o.internalIdFile);
  const system = await readIdentity(o.systemIdFile);
  const enforce = o.busAuth === 'enforce';
  let sup: NatsSupervisor | null = null;
  let servers = o.natsUrl ?? '';
  if (!o.natsUrl) {
    const monitorPort = await pickLoopbackPort();
    const conf = buildConf(o, pf, enforce ? id.publicKey : null, monitorPort);
    conf.allowlist = extras.initialAllowlist ?? [];
    if (enforce && system) conf.systemNkey = system.publicKey;
    sup = new NatsSupervisor({
      bin: o.natsServerBin,
      confFile: join(o.stateDir, 'nats.conf'),
      conf,
      debug: o.debug,
      log,
      scrub: pf.routePass ? [pf.routePass.revealString(), encodeURIComponent(pf.routePass.revealString())] : [],
    });
    const pid = await sup.start();
    log(`nats-server ${pf.natsVersion ?? ''} started (pid ${pid})${o.debug ? `, monitor on 127.0.0.1:${monitorPort}` : ''}`);
    const host = o.bind === '0.0.0.0' || o.bind === '::' ? '127.0.0.1' : o.bind;
    servers = `${host}:${o.natsPort}`;
  }
  let nc: NatsConnection;
  try {
    nc = await connectInternal({ servers, seed: enforce ? id.seed : null, caFile: o.tls?.ca, name: `membershipd ${o.serverName}` });
  } catch (err) {
    await sup?.stop();
    throw err;
  }
  const streams = new Set<string>([`KV_${HEALTH_BUCKET}`]);
  let ready = false;
  const openBucket = (name: string, opts: Partial<KvOptions> = {}) => {
    streams.add(`KV_${name}`);
    return openBucketWithRetry(nc, name, { replicas: o.kvReplicas, ...opts }, BUCKET_BUDGET_MS);
  };
  let readyError: Error | null = null;
  // nats-server 2.10.27 sometimes loses route interest in a duplicate-route
  // race on a cold start: every route is up, a meta leader exists, yet the
  // leader refuses R>1 placement for minutes. Seen in about 1 of 5 to 1 of 10
  // cold starts; restarting one child clears it. Done at most once per start,
  // only when every peer is routed (a peer really down is not this case).
  let placementSince = 0;
  let selfRestarted = false;
  // Jittered so the nodes of a stuck cluster do not all restart together.
  const placementWaitMs = 6000 + Math.floor(Math.random() * 3000);
  const placementWatch = async (err: unknown) => {
    if (!sup || !o.clusterName || selfRestarted) return;
    if (!/no suitable peers for placement/.test(String((err as Error)?.message))) {
      placementSince = 0;
      return;
    }
    placementSince ||= Date.now();
    if (Date.now() - placementSince < placementWaitMs) return;
    const s = await fetchSnapshot(sup.monitorPort, 1000).catch(() => null);
    if (!s || !allPeersRouted(s)) return;
    selfRestarted = true;
    sup.restartChild(`R${o.kvReplicas} placement refused for ${Math.round(placementWaitMs / 1000)} s with all ${countPeers(s.routez)} peers routed`);
  };
  let cached: { at: number; report: Promise<HealthReport>; ok?: boolean } | null = null;
  const stepDown = async (s: string) => void (await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${s}`, undefined, { timeout: 2000 }));
  // A stop hands this node's streams off one at a time before the lame duck (supervisor.ts).
  sup?.setStepDown(stepDown);
  // One JetStream manager for the audit's reads (each one made asks the server for its account first); a failed one is made again.
  let auditJsm: Promise<JetStreamManager> | null = null;
  const auditManager = () => (auditJsm ??= jetstreamManager(nc, { timeout: 1500 }).catch((e: Error) => ((auditJsm = null), Promise.reject(e))));
  const audit =
    sup && o.clusterName && o.kvReplicas > 1
      ? new ReplicaAudit({
          me: o.serverName,
          streams: () => [...streams],
          readOwn: () => readOwnCopies(sup!.monitorPort),
          readLeader: async (s) => {
            const info = await (await auditManager()).streams.info(s);
            return { leader: info.cluster?.leader, state: info.state, replicas: info.cluster?.replicas ?? [], expires: (info.config.max_age ?? 0) > 0, perKey: s.startsWith('KV_') && info.config.max_msgs_per_subject === 1 };
          },
          restartWith: (reason, whileDown) => sup!.restartChildWith(reason, whileDown),
          stepDown,
          storeDir: absolute(o.natsStore),
          log,
        })
      : null;
  // A copy nats-server rebuilt from its blocks at a start does not lead until it is judged (replica-audit.ts copyLed).
  if (audit) sup!.setCopyWatch((n) => (n.kind === 'rebuilt' ? audit.copyRebuilt(n.stream) : void audit.copyLed(n.stream)));
  // Ready means a replicated write went through, not only open ports. It runs
  // in the background so /healthz answers 503 (not ready) meanwhile.
  // A JetStream request sent before the meta group has a leader goes
  // unanswered until it times out; the loopback monitor says when one exists.
  const jetstreamUp = sup && o.clusterName ? waitMetaLeader(sup.monitorPort, BUCKET_BUDGET_MS) : Promise.resolve();
  const readyP = (async () => {
    await jetstreamUp;
    const kv = await openBucketWithRetry(nc, HEALTH_BUCKET, { replicas: o.kvReplicas, history: 1 }, BUCKET_BUDGET_MS, placementWatch);
    await retryWithin('first control-plane write', BUCKET_BUDGET_MS, () => kv.put(`node.${o.serverName}`, new Date().toISOString()));
    ready = true;
    cached = null; // a report from before this is stale now
    log('node ready: replicated write to UNIBUS_health succeeded');
  })();
  readyP.catch((err: Error) => {
    readyError = err;
  });
  const posture = postureOf(o);

  async function verdict(): Promise<HealthVerdict> {
    const want = { clustered: !!o.clusterName, streams: [...streams], kvReplicas: o.kvReplicas };
    if (sup) {
      try {
        const snap = await fetchSnapshot(sup.monitorPort);
        const v = evaluateHealth(snap, want);
        if (!v.ok || !want.clustered || !ready) return v;
        const jsm = await jetstreamManager(nc, { timeout: 1500 });
        const size = snap.jsz.meta_cluster?.cluster_size ?? 1;
        // Only streams with a replica here: an R1 stream that lives on another
        // node says nothing about whether this node is current.
        const hosted = new Set((snap.jsz.account_details ?? []).flatMap((a) => (a.stream_detail ?? []).map((d) => d.name)));
        const reason = await leaderVerdict(jsm, want.streams.filter((n) => hosted.has(n)), snap.varz.server_name, size);
        return reason ? { ok: false, reason, node: v.node } : v;
      } catch (err) {
        return { ok: false, reason: `nats-server not answering: ${(err as Error).message}`, node: { server_name: o.serverName, meta_leader: null, routes: 0, jetstream: false, nats_version: null } };
      }
    }
    return externalVerdict(nc, [...streams]);
  }

  // The journal says when /healthz turns and why (at most every 10 s while
  // the reason keeps changing): a node that stays 503 explains itself there.
  let lastHealth = { ok: true, reason: '', at: 0 };
  async function computeHealth(): Promise<HealthReport> {
    const v = await verdict();
    const auditReason = !audit ? null : !audit.settled ? 'not ready: comparing this node\'s stream copies with their leaders' : audit.reason;
    const ok = ready && v.ok && !auditReason;
    const reason = v.reason ?? (ready ? auditReason : null) ?? (readyError ? `not ready: ${(readyError as Error).message}` : 'not ready: first control-plane write pending');
    if (ready && (ok !== lastHealth.ok || (!ok && reason !== lastHealth.reason && Date.now() - lastHealth.at > 10_000))) {
      log(ok ? 'healthz: ok' : `healthz: unavailable: ${reason}`);
      lastHealth = { ok, reason, at: Date.now() };
    }
    return { status: ok ? 'ok' : 'unavailable', ...(ok ? {} : { reason }), posture, node: v.node };
  }

  const health = () => {
    // Coalesce bursts of probes: at most one monitor read (and one stream
    // info per stream) per 500 ms while healthy, per 200 ms while not (so a
    // recovery shows soon), however often /healthz is asked.
    if (!cached || Date.now() - cached.at > (cached.ok === false ? 200 : 500)) {
      const c: NonNullable<typeof cached> = { at: Date.now(), report: computeHealth() };
      void c.report.then((r) => (c.ok = r.status === 'ok'), () => (c.ok = false));
      cached = c;
    }
    return cached.report;
  };

  // Each copy of a control-plane stream here is compared with its leader's
  // after the first write and every 10 s; a copy found short is moved aside
  // and rebuilt from the peers (see replica-audit.ts). /healthz waits for the
  // first round, so a node back from a stop is not called ready on a copy
  // nobody looked at.
  let auditTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  if (audit) {
    const a = audit;
    const loop = () => {
      if (stopped) return;
      void a.round().then(
        () => {
          cached = null;
          return a.nextInMs;
        },
        (err: Error) => {
          log(`replica audit: round failed: ${err.message}`);
          return SOON_MS;
        },
      ).then((ms) => {
        if (stopped) return;
        auditTimer = setTimeout(loop, ms);
        auditTimer.unref();
      });
    };
    void readyP.then(loop, () => undefined);
  }

  // Each copy of a control-plane stream here is read whole from this
  // server's own store soon after every start of the child and every 10 min
  // after (scrub.ts): a copy whose bytes rotted (counts whole, so the audit
  // cannot see it) is found by the read and rebuilt from the peers.
  let scrubTimer: NodeJS.Timeout | undefined;
  if (audit) {
    const scrub = new Scrub({
      me: o.serverName,
      streams: () => [...streams],
      ...scrubReads(nc, o.serverName, auditManager, sup!.monitorPort),
      rebuild: (s, why) => sup!.rebuildDamagedCopy(s, why),
      log,
    });
    // One round at a time: a start of the child during a round asks for another one soon after it.
    let running = false;
    let again = false;
    const schedule = (ms: number) => {
      if (stopped) return;
      clearTimeout(scrubTimer);
      scrubTimer = setTimeout(loop, ms);
      scrubTimer.unref();
    };
    const loop = () => {
      if (stopped) return;
      if (running) return void (again = true);
      // Not before the audit has compared this node's copies with their leaders once (its copies loaded and caught up).
      if (!audit.settled) return schedule(1000);
      running = true;
      void scrub.round().then(
        () => scrub.nextInMs,
        (err: Error) => (log(`scrub: round failed: ${err.message}`), SCRUB_SOON_MS),
      ).then((ms) => {
        running = false;
        schedule(again ? SCRUB_FIRST_MS : ms);
        again = false;
      });
    };
    const soon = () => (running ? void (again = true) : schedule(SCRUB_FIRST_MS));
    // After the first write, and after every later start of the child (a copy may have been damaged while it was down).
    void readyP.then(() => (soon(), sup!.onReady(soon)), () => undefined);
  }

  // A child the stream leaders keep seeing behind, with every peer routed, or
  // one that knows no meta leader while every peer is routed and talking, is
  // restarted (see stall-watch.ts). Checked every 5 s, so it also works when
  // nobody polls /healthz; before the node is ready only the second counts.
  let stallTimer: NodeJS.Timeout | undefined;
  if (sup && o.clusterName) {
    const child = sup;
    const watch = new StallWatch();
    const talk = new RouteTalk();
    let busy = false;
    // A child that another part restarted starts a new stall episode (rearm).
    let ownRestart = false;
    child.onReady(() => {
      if (!ownRestart) watch.rearm();
      ownRestart = false;
    });
    stallTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      void (async () => {
        const h = await health();
        let ok = h.status === 'ok';
        let reason = h.reason;
        if (ok || !STALL_REASON.test(reason ?? '')) {
          // The streams can be fine (or R1, with no leader view to ask) while
          // the meta group does not hear this node: nothing can be placed here.
          const meta = await fetchServerHealth(child.monitorPort);
          if (!meta.ok && META_NOT_CURRENT.test(meta.error ?? '')) {
            ok = false;
            reason = `nats-server: ${meta.error}`;
          }
        }
        let peersRouted = false;
        let peersHeard = false;
        if (!ok) {
          const s = await fetchSnapshot(child.monitorPort, 1000).catch(() => null);
          peersRouted = !!s && allPeersRouted(s);
          peersHeard = s ? talk.observe(routeInMsgs(s.routez), Date.now()) : false;
        } else talk.reset();
        const why = watch.observe({ ok, reason, peersRouted, peersHeard, ready }, Date.now());
        if (why) {
          ownRestart = true;
          child.restartChild(why);
        }
      })()
        .catch(() => undefined)
        .finally(() => (busy = false));
    }, 5000);
    stallTimer.unref();
  }

  return {
    options: o,
    nc,
    internalNkey: id.publicKey,
    ready: readyP,
    jetstreamUp,
    get childPid() {
      return sup?.pid;
    },
    openBucket,
    watchStreams: (names) => names.forEach((n) => streams.add(n)),
    setAllowlist: async (users) => (sup ? sup.setAllowlist(users) : false),
    reload: async (force = false) => (sup ? sup.reload(force) : false),
    health,
    stop: async () => {
      stopped = true;
      clearTimeout(auditTimer);
      clearTimeout(scrubTimer);
      clearInterval(stallTimer);
      // Lame duck first so leaders move while our connection still drains.
      await sup?.stop();
      await Promise.race([nc.close().catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
    },
  };
}


/** This node's copy of each stream, from its own monitor. */
async function readOwnCopies(monitorPort: number): Promise<Map<string, OwnCopy>> {
  const jsz = await fetchJsz(monitorPort);
  const out = new Map<string, OwnCopy>();
  for (const a of jsz.account_details ?? []) {
    for (const d of a.stream_detail ?? []) {
      if (d.state) out.set(d.name, { stream: d.name, account: a.name, raftGroup: d.cluster?.raft_group, state: d.state, leader: d.cluster?.leader });
    }
  }
  return out;
}

async function waitMetaLeader(monitorPort: number, budgetMs: number): Promise<void> {
  const deadline = Date.now() + budgetMs;
  while (Date.now() < deadline) {
    try {
      const s = await fetchSnapshot(monitorPort, 1000);
      if (s.jsz.meta_cluster?.leader) return;
    } catch {
      // child restarting: keep polling within the budget
    }
    await sleep(50);
  }
}

/** With --nats-url there is no local monitor: ask the JetStream API, bounded. */
async function externalVerdict(nc: NatsConnection, streams: string[]): Promise<HealthVerdict> {
  const node = { server_name: nc.info?.server_name ?? null, meta_leader: null as string | null, routes: 0, jetstream: false, nats_version: nc.info?.version ?? null };
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2000 });
    await jsm.getAccountInfo();
    node.jetstream = true;
    for (const s of streams) {
      const info = await jsm.streams.info(s);
      if (info.cluster && !info.cluster.leader) return { ok: false, reason: `stream ${s} has no leader`, node };
      node.meta_leader = info.cluster?.leader ?? node.server_name;
    }
    return { ok: true, node };
  } catch (err) {
    return { ok: false, reason: `JetStream not answering: ${(err as Error).message}`, node };
  }
}
