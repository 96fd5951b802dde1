// Controller-side steps of the cluster playbooks (certificates, the daemon
// bundle, the pinned nats-server, staging, verification, scaling, chaos,
// the deep check and repair, backup and restore), registered beside the general modules.
import { cluster_user } from './admin.js';
import { cluster_backup, cluster_restore } from './backup.js';
import { cluster_bundle } from './bundle.js';
import { cluster_chaos_check, cluster_chaos_key, cluster_chaos_lead, cluster_chaos_schedule, cluster_chaos_served, cluster_chaos_victims, cluster_chaos_window, cluster_chaos_workload } from './chaos.js';
import { cluster_partition } from './partition.js';
import { cluster_corrupt } from './corrupt.js';
import { cluster_fault } from './fault.js';
import { cluster_nats_check, cluster_nats_release } from './nats-server.js';
import { cluster_pki } from './pki.js';
import { cluster_preflight } from './preflight.js';
import { cluster_scale } from './scale.js';
import { cluster_stage } from './stage.js';
import { cluster_repair, cluster_replicas, cluster_verify } from './verify.js';
import { cluster_peer_remove } from './peers.js';
import type { Module } from '../types.js';

export const CLUSTER_MODULES: readonly Module[] = [cluster_preflight, cluster_pki, cluster_bundle, cluster_stage, cluster_verify, cluster_scale, cluster_user,
  cluster_fault, cluster_chaos_key, cluster_chaos_workload, cluster_chaos_served, cluster_chaos_window, cluster_chaos_check,
  cluster_chaos_schedule, cluster_chaos_victims, cluster_chaos_lead, cluster_partition, cluster_corrupt, cluster_nats_release, cluster_nats_check, cluster_replicas, cluster_repair, cluster_peer_remove,
  cluster_backup, cluster_restore];
