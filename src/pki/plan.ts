// planPki: read what exists, compare it with what the nodes need, and list
// every file to mint, rewrite or keep, with the reason. Apply walks this same
// list, so --check predicts exactly what apply does. No key material here.
import { PkiError, MissingCaKeyError, RotationStateError } from './errors.js';
import { readIfExists } from './files.js';
import { readCa, judgeLeaf, sanStrings, type CaOnDisk, type LoadedCert } from './inspect.js';
import { VALIDITY, nodeFiles, secretFiles } from './layout.js';
import { sansFor, validateNodes } from './nodes.js';
import { toPem } from './pem.js';
import { judgeAdmin, judgeClusterPass, judgeNkey } from './secrets.js';
import type { PkiAction, PkiOptions, PkiPlan } from './types.js';
import { OID, fingerprint } from './x509.js';

export const SERVER_EKU = [OID.serverAuth];
// Routes are mutual TLS: each side is client and server of the other.
export const ROUTE_EKU = [OID.serverAuth, OID.clientAuth];

const day = (d: Date) => d.toISOString().slice(0, 10);

function caAction(kind: 'client-ca' | 'route-ca', ca: CaOnDisk, now: Date, label: string): PkiAction {
  const files = [ca.certFile, ca.keyFile];
  if (!ca.loaded) return { kind, op: 'mint', files, reason: 'missing' };
  if (ca.loaded.notAfter <= now) {
    throw new PkiError(`${ca.certFile}: the ${label} expired on ${day(ca.loaded.notAfter)}; move the pair away to mint a new one`);
  }
  return {
    kind,
    op: 'reuse',
    files,
    reason: `valid until ${day(ca.loaded.notAfter)}${ca.hasKey ? '' : ', key kept elsewhere'}`,
    fingerprint: fingerprint(ca.loaded.der),
    notAfter: ca.loaded.notAfter.toISOString(),
  };
}

/** A public file whose content is known (CA copy, bundle): rewrite only when it differs. */
async function judgeCopy(file: string, want: string | undefined, newReason: string): Promise<Pick<PkiAction, 'op' | 'reason'>> {
  if (want === undefined) return { op: 'write', reason: newReason };
  const cur = (await readIfExists(file))?.toString('utf8');
  if (cur === undefined) return { op: 'write', reason: 'missing' };
  return cur === want ? { op: 'reuse', reason: 'up to date' } : { op: 'write', reason: 'differs from the CA' };
}

export async function planPki(opts: PkiOptions): Promise<PkiPlan> {
  validateNodes(opts.nodes);
  if (opts.forceRouteCa && opts.dropOldRouteCa) {
    throw new RotationStateError('rotating the route CA and dropping the old one are separate steps: roll the nodes in between');
  }
  const now = opts.now ?? new Date();
  const renewWithinDays = opts.renewWithinDays ?? VALIDITY.renewWithinDays;
  const s = secretFiles(opts.secretsDir);
  const [clientCa, routeCa, oldRouteCa] = await Promise.all([
    readCa(s.clientCaCert, s.clientCaKey),
    readCa(s.routeCaCert, s.routeCaKey),
    readCa(s.oldRouteCaCert, s.oldRouteCaKey),
  ]);
  const actions: PkiAction[] = [caAction('client-ca', clientCa, now, 'client CA')];

  let routeCurrent: LoadedCert | undefined = routeCa.loaded;
  let bundleOld: LoadedCert | undefined = oldRouteCa.loaded;
  const oldFiles = [s.oldRouteCaCert, s.oldRouteCaKey];
  if (opts.forceRouteCa && routeCa.loaded) {
    if (oldRouteCa.loaded) {
      throw new RotationStateError(
        `${s.oldRouteCaCert} exists: a route CA rotation is still in progress; run 'unibus pki drop-old-route-ca' once every node runs its new route certificate`,
      );
    }
    actions.push({ kind: 'old-route-ca', op: 'retire', files: [s.routeCaCert, s.routeCaKey, ...oldFiles], reason: 'rotation: the current route CA becomes the old one, still trusted in the bundles', fingerprint: fingerprint(routeCa.loaded.der) });
    actions.push({ kind: 'route-ca', op: 'mint', files: [s.routeCaCert, s.routeCaKey], reason: 'rotation requested' });
    bundleOld = routeCa.loaded;
    routeCurrent = undefined;
  } else {
    actions.push(caAction('route-ca', routeCa, now, 'route CA'));
    if (oldRouteCa.loaded && opts.dropOldRouteCa) {
      actions.push({ kind: 'old-route-ca', op: 'remove', files: oldFiles, reason: 'rotation finished: drop the old route CA from the bundles', fingerprint: fingerprint(oldRouteCa.loaded.der) });
      bundleOld = undefined;
    } else if (oldRouteCa.loaded) {
      actions.push({ kind: 'old-route-ca', op: 'reuse', files: oldFiles, reason: 'rotation in progress: still trusted in the bundles', fingerprint: fingerprint(oldRouteCa.loaded.der) });
    } else if (opts.dropOldRouteCa) {
      actions.push({ kind: 'old-route-ca', op: 'reuse', files: oldFiles, reason: 'no old route CA to drop' });
    }
  }

  const clientCur = clientCa.loaded;
  const clientPem = clientCur && toPem('CERTIFICATE', clientCur.der);
  const bundlePem = routeCurrent && toPem('CERTIFICATE', routeCurrent.der) + (bundleOld ? toPem('CERTIFICATE', bundleOld.der) : '');
  const base = { now, renewWithinDays };
  for (const n of opts.nodes) {
    const f = nodeFiles(opts.outDir, n.name);
    const sans = sansFor(n);
    const server = await judgeLeaf({ ...base, certFile: f.serverCert, keyFile: f.serverKey, sans, eku: SERVER_EKU, ca: clientCur, caLabel: 'client CA' });
    const route = await judgeLeaf({ ...base, certFile: f.routeCert, keyFile: f.routeKey, sans, eku: ROUTE_EKU, ca: routeCurrent, caLabel: 'route CA' });
    const nkey = await judgeNkey(f.internalSeed, f.internalPub);
    const sys = await judgeNkey(f.systemSeed, f.systemPub);
    const node = n.name;
    actions.push(
      { kind: 'client-ca-copy', node, files: [f.clientCa], ...(await judgeCopy(f.clientCa, clientPem, 'the client CA is new')) },
      { kind: 'server-cert', node, files: [f.serverCert, f.serverKey], op: server.mint ? 'mint' : 'reuse', reason: server.reason, fingerprint: server.fingerprint, notAfter: server.notAfter, sans: sanStrings(sans) },
      { kind: 'route-ca-bundle', node, files: [f.routeCaBundle], ...(await judgeCopy(f.routeCaBundle, bundlePem, 'the route CA is new')) },
      { kind: 'route-cert', node, files: [f.routeCert, f.routeKey], op: route.mint ? 'mint' : 'reuse', reason: route.reason, fingerprint: route.fingerprint, notAfter: route.notAfter, sans: sanStrings(sans) },
      { kind: 'internal-nkey', node, files: [f.internalSeed, f.internalPub], op: nkey.op, reason: nkey.reason, fingerprint: nkey.publicKey },
      { kind: 'system-nkey', node, files: [f.systemSeed, f.systemPub], op: sys.op, reason: sys.reason, fingerprint: sys.publicKey },
    );
  }

  // A reused CA whose key is kept elsewhere is fine until a leaf needs signing.
  for (const [ca, kind] of [[clientCa, 'server-cert'], [routeCa, 'route-cert']] as const) {
    if (!ca.loaded || ca.hasKey || (kind === 'route-cert' && !routeCurrent)) continue;
    const need = actions.filter((a) => a.kind === kind && a.op === 'mint').map((a) => a.files[0]!);
    if (need.length) throw new MissingCaKeyError(ca.certFile, ca.keyFile, need);
  }

  const pass = await judgeClusterPass(s.clusterPass);
  actions.push({ kind: 'cluster-pass', files: [s.clusterPass], op: pass.op, reason: pass.reason });
  if (opts.admin) {
    const admin = await judgeAdmin(s.adminSeed, s.adminPub);
    actions.push({ kind: 'admin-key', files: [s.adminSeed, s.adminPub], op: admin.op, reason: admin.reason, fingerprint: admin.publicKey });
  }
  return { outDir: opts.outDir, secretsDir: opts.secretsDir, now: now.toISOString(), nodes: opts.nodes, actions };
}

/** True when applying the plan would change no file. */
export function isNoop(plan: PkiPlan): boolean {
  return plan.actions.every((a) => a.op === 'reuse');
}
