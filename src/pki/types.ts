// Plain data in and out of the PKI planner: no key material ever appears here,
// so a plan can be printed, logged or serialised as JSON safely.

/** One node as the PKI needs it (mapped from the inventory by the caller). */
export interface PkiNode {
  name: string;
  /** The node's host name (DNS name or address) as the inventory gives it. */
  hostname: string;
  publicIp: string;
  wgIp?: string;
}

export interface PkiOptions {
  /** Per-node output folder root: out/<node>/... */
  outDir: string;
  /** Controller-only secrets: CA keys, cluster.pass, admin.seed. */
  secretsDir: string;
  nodes: PkiNode[];
  /** Clock for validity and expiry checks (tests inject it). */
  now?: Date;
  /** Start a route CA rotation: the current CA becomes the old one. */
  forceRouteCa?: boolean;
  /** Finish a rotation: remove the old route CA and its place in the bundles. */
  dropOldRouteCa?: boolean;
  /** Mint (or reuse) the first admin's Ed25519 key pair. */
  admin?: boolean;
  /** Re-mint a leaf with this many days or fewer left (default 30). */
  renewWithinDays?: number;
}

export type ArtifactKind =
  | 'client-ca'
  | 'route-ca'
  | 'old-route-ca'
  | 'server-cert'
  | 'route-cert'
  | 'client-ca-copy'
  | 'route-ca-bundle'
  | 'cluster-pass'
  | 'internal-nkey'
  | 'system-nkey'
  | 'admin-key';

/**
 * mint: new key material; write: (re)write a derived public file (CA copy,
 * bundle, public key); reuse: nothing to do; retire: move the current route CA
 * aside as the old one; remove: delete files.
 */
export type ActionOp = 'mint' | 'write' | 'reuse' | 'retire' | 'remove';

export interface PkiAction {
  kind: ArtifactKind;
  op: ActionOp;
  node?: string;
  /** Files this action reads or writes, first the main one. */
  files: string[];
  /** Why: "missing", "SANs changed (+ip:10.0.0.5 -ip:10.0.0.4)", "valid until 2027-11-22, SANs match", ... */
  reason: string;
  /** sha256 of the certificate's DER (existing one for reuse, new one after apply), or a public key. */
  fingerprint?: string;
  notAfter?: string;
  /** For leaves: the SANs it must carry, as "ip:1.2.3.4" / "dns:name". */
  sans?: string[];
}

export interface PkiPlan {
  outDir: string;
  secretsDir: string;
  now: string;
  nodes: PkiNode[];
  actions: PkiAction[];
}

export interface PkiResult {
  /** The plan's actions with the fingerprints of what was minted filled in. */
  actions: PkiAction[];
  /** Every file written or removed. */
  changed: string[];
  /** The admin public key (hex) when asked for. */
  adminPublicKey?: string;
}
