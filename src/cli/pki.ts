// unibus pki — argument parsing and printing only; the work is in src/pki.
//
//   unibus pki check  [-i FILE] [--out DIR] [--secrets DIR] [--admin] [--json]
//        what `mint` would do, file by file, with reasons and fingerprints
//   unibus pki mint   [-i FILE] [--out DIR] [--secrets DIR] [--admin] [--force-route-ca] [--check]
//        mint what is missing, changed or near expiry; reuse the rest
//   unibus pki rotate-route-ca    [...]  new route CA beside the old; bundles of both
//   unibus pki drop-old-route-ca  [...]  after every node restarted: drop the old route CA
// --out and --secrets default to out/ and secrets/ beside the inventory.
// Exit codes: 0 ok, 1 refused (corrupt or missing key material, rotation state), 2 bad input.
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, ConfigErrors } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { NodeDataError, PkiError, applyPki, formatAction, formatPlan, isNoop, planPki, withPkiLock, type PkiOptions } from '../pki/index.js';
import { pkiNodesOf } from '../pki/from-inventory.js';

const USAGE = `usage: unibus pki check|mint|rotate-route-ca|drop-old-route-ca [-i FILE] [--out DIR] [--secrets DIR] [--admin] [--force-route-ca] [--check] [--json]`;
const SUBS = new Set(['check', 'mint', 'rotate-route-ca', 'drop-old-route-ca']);

export async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        inventory: { type: 'string', short: 'i', default: 'inventory.yaml' },
        out: { type: 'string' },
        secrets: { type: 'string' },
        admin: { type: 'boolean', default: false },
        'force-route-ca': { type: 'boolean', default: false },
        check: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`unibus pki: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const sub = positionals[0];
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (!sub || !SUBS.has(sub) || positionals.length > 1) {
    console.error(USAGE);
    return 2;
  }
  try {
    const inv = loadInventory(v.inventory);
    const base = dirname(inv.file);
    const opts: PkiOptions = {
      outDir: v.out ?? join(base, 'out'),
      secretsDir: v.secrets ?? join(base, 'secrets'),
      nodes: pkiNodesOf(inv),
      admin: v.admin,
      forceRouteCa: sub === 'rotate-route-ca' || v['force-route-ca'],
      dropOldRouteCa: sub === 'drop-old-route-ca',
    };
    const check = sub === 'check' || v.check;
    // check writes nothing, so it takes no lock (and makes no secrets folder).
    return check ? await printPlan(opts, v.json) : await withPkiLock(opts.secretsDir, () => mint(opts));
  } catch (err) {
    if (err instanceof ConfigErrors || err instanceof ConfigError || err instanceof NodeDataError) {
      console.error(err.message);
      return 2;
    }
    if (err instanceof PkiError) {
      console.error(`unibus pki: refused: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

async function printPlan(opts: PkiOptions, json: boolean): Promise<number> {
  const plan = await planPki(opts);
  console.log(json ? JSON.stringify(plan, null, 2) : formatPlan(plan, process.cwd()));
  return 0;
}

async function mint(opts: PkiOptions): Promise<number> {
  const plan = await planPki(opts);
  if (isNoop(plan)) {
    console.log(formatPlan(plan, process.cwd(), false).replace(/^pki: /, 'pki: nothing to mint: '));
    return 0;
  }
  const res = await applyPki(plan);
  for (const a of res.actions) if (a.op !== 'reuse') console.log(formatAction(a, process.cwd()));
  if (res.adminPublicKey) console.log(`admin public key (Ed25519, hex): ${res.adminPublicKey}`);
  console.log(`pki: ${res.changed.length} files written or removed`);
  return 0;
}
