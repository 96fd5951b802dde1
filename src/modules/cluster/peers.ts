// cluster_peer_remove: a node out of the cluster, dead (play replace-node) or
// drained and stopped (play remove-node, with `leaving: true`).
// Facts first, on the controller: `peer` must be a node no longer in the
// inventory (or, leaving, one still in it, with enough other nodes for
// kv_replicas), and the meta group (asked in the system account with a node's
// system identity) must count it dead, with enough live peers left for the
// streams' replicas. A leaving node is judged before it is stopped: alive. `action: judge` stops there (the play's first task, so a
// wrong name touches no host). `action: remove` then runs only what is left:
// the meta group's peer removal while the peer is still in it, and a bounded
// wait until every control-plane stream is at its replicas on live peers,
// led and current (steps/peers.ts); a re-run after the removal only waits.
import { join } from 'node:path';
import { projectDirOf } from '../../controller/paths.js';
import { probeNodes } from '../../controller/probe/nodes.js';
import { stepArgv } from '../../controller/steps/step.js';
import { parseSeconds } from '../args.js';
import { defineModule } from '../define.js';
import { ModuleArgsError } from '../errors.js';
import type { ArgsSchema, Command } from '../types.js';
import { clusterOf, nodesOf } from './node-view.js';

const M = 'cluster_peer_remove';


export const cluster_peer_remove = defineModule({
  name: M,
  argsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['peer'],
    properties: {
      peer: { type: 'string' },
      action: { enum: ['judge', 'remove'] },
      leaving: { type: 'boolean' },
      out: { type: 'string' },
      timeout: { type: ['number', 'string'] },
    },
  } as const satisfies ArgsSchema,
  async plan(args, ctx) {
    const view = nodesOf(M, ctx.vars);
    const replicas = Number(clusterOf(M, ctx.vars).kv_replicas);
    const peer = args.peer.trim();
    if (!peer) throw new ModuleArgsError(M, 'peer', 'is empty: name the dead node to replace (-e old=NAME)');
    const leaving = args.leaving === true;
    const listed = view.some((n) => n.name === peer);
    if (listed && !leaving) {
      throw new ModuleArgsError(M, 'peer', `${JSON.stringify(peer)} is still a node of the inventory: replace its entry there by the new node (its own name and address) first`);
    }
    if (!listed && leaving) {
      throw new ModuleArgsError(M, 'peer', `${JSON.stringify(peer)}: expected a node of the inventory (${view.map((n) => n.name).join(', ')}); a node gone from it already is removed by play replace-node`);
    }
    const staying = view.filter((n) => n.name !== peer).length;
    if (staying < replicas) {
      throw new ModuleArgsError(M, 'peer', leaving ? `removing ${peer} leaves ${staying} node${staying === 1 ? '' : 's'} for kv_replicas ${replicas}: nothing drained (add a node first, or lower kv_replicas)` : `the inventory has ${staying} nodes for kv_replicas ${replicas}: add the replacement node first`);
    }
    const nodes = probeNodes(view);
    const out = args.out ?? join(projectDirOf(ctx.baseDirs), 'out');
    const timeoutS = parseSeconds(M, 'timeout', args.timeout, 120, 1800);
    const { connectFirst, connectCluster, readStreams } = await import('../../controller/probe/probe.js');
    const { NEXT, readMetaGroup, refuseRemoval, unsettledStreams } = await import('../../controller/admin/peers.js');
    let meta;
    try {
      const sys = (await connectFirst(nodes, out, 4000, 'system')).nc;
      try {
        meta = await readMetaGroup(sys);
      } catch (err) {
        return { changed: false, failed: true, reason: `${(err as Error).message}; nothing removed`, commands: [] };
      } finally {
        await sys.close().catch(() => undefined);
      }
    } catch (err) {
      // No node takes a system identity yet (a cluster brought up before they were minted: this run
      // mints and ships them, and the new node starts with its own). The streams' copies, read with
      // the internal identity, still say whether the peer is online.
      if (args.action === 'remove' && !ctx.check) return { changed: false, failed: true, reason: `the meta group could not be read in the system account: ${(err as Error).message}`, commands: [] };
      if (leaving) return { changed: args.action === 'remove', reason: `${staying} nodes stay for kv_replicas ${replicas}: ${peer} can be drained and removed (the meta group is read once a node takes its system identity: ${(err as Error).message})`, commands: [] };
      const nc = await connectCluster(nodes, out);
      let online: string[];
      try {
        online = (await readStreams(nc)).filter((s) => s.leader === peer || s.peers.some((p) => p.name === peer && !p.offline)).map((s) => s.name);
      } finally {
        await nc.close().catch(() => undefined);
      }
      if (online.length) return { changed: false, failed: true, reason: `${peer} is online in ${online.join(', ')}: only a dead node is replaced; stop it first; nothing removed`, commands: [] };
      return { changed: args.action === 'remove', reason: `${peer} holds no live copy of a control-plane stream; the meta group is read once a node takes its system identity (${(err as Error).message})`, commands: [] };
    }
    const inMeta = meta.peers.some((p) => p.name === peer);
    // Only the inventory's nodes are counted here (above): the live peers are counted by the step,
    // which gives a replacement started just before the time to join the meta group. A leaving
    // node is judged alive (it is drained next); in a check run, it has not been stopped.
    const refused = leaving && (args.action === 'judge' || ctx.check) ? null : refuseRemoval(meta, peer, 0);
    if (refused) return { changed: false, failed: true, reason: `${refused}; nothing removed`, commands: [] };
    if (args.action === 'judge') {
      if (leaving) return { changed: false, reason: `${staying} nodes stay for kv_replicas ${replicas}: ${peer} can be drained and removed${inMeta ? '' : ' (not in the meta group: removed already)'}`, commands: [] };
      return { changed: false, reason: inMeta ? `${peer} is dead to the meta group (leader ${meta.leader}): it can be removed` : `${peer} is not in the meta group (removed already)`, commands: [] };
    }
    let left: string[] = [];
    if (!inMeta) {
      const nc = await connectCluster(nodes.filter((n) => n.name !== peer), out);
      try {
        left = unsettledStreams(await readStreams(nc), peer, replicas);
      } finally {
        await nc.close().catch(() => undefined);
      }
      if (!left.length) return { changed: false, reason: `${peer} is not in the meta group and every control-plane stream is at R${replicas} on live peers, led and current${leaving ? NEXT : ''}`, commands: [] };
    }
    const cmd: Command = {
      kind: 'exec',
      argv: stepArgv('peers'),
      stdin: JSON.stringify({ nodes: leaving ? nodes.filter((n) => n.name !== peer) : nodes, out, peer, replicas, leaving, timeoutMs: timeoutS * 1000 }),
      timeoutMs: (timeoutS + 60) * 1000,
      verdict: true,
      label: `${inMeta ? `remove ${peer} from the meta group (system account), then ` : ''}wait up to ${timeoutS} s until every control-plane stream is at R${replicas} on live peers and current`,
    };
    return {
      changed: inMeta,
      reason: inMeta ? `${peer} (offline) to be removed from the meta group; the meta leader re-places its stream copies on live peers` : `${peer} removed already; waiting for: ${left.join('; ')}`,
      commands: [cmd],
    };
  },
});
