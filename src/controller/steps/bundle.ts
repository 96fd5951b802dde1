// Bundles membershipd into one file (dist/membershipd.mjs by default, or the
// path given as the first argument) that a host runs with its own `node`: the
// deploy uploads this single file, so a host needs no npm, no node_modules and
// no network. Beside it, <name>.inputs.json records what the build read
// (bundle.ts), so cluster_bundle rebuilds only when a source really changed.
//
// main.ts names every module it loads lazily (the control plane, the operator
// commands) with a literal import, so the bundler follows each one.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { makeRecord, recordPathOf } from '../build/record.js';
import { UNIBUS_ROOT } from '../paths.js';
import { writeFileAtomic } from '../../util/fs.js';

// listhen imports node-forge (self-signed certificates for https) and uqr (a
// QR code in its banner) at its top level, so a bundle would evaluate all of
// node-forge at every start. membershipd asks listhen for neither: it listens
// on plain HTTP with the banner off. They are left out; reaching one anyway
// throws a clear error instead of running without it.
const unusedByDaemon: Plugin = {
  name: 'unused-by-daemon',
  setup(b) {
    b.onResolve({ filter: /^(node-forge|uqr)$/ }, (args) => ({ path: args.path, namespace: 'unused-by-daemon' }));
    b.onLoad({ filter: /.*/, namespace: 'unused-by-daemon' }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`membershipd is bundled without ${args.path} (listhen https certificates / QR banner), which it never uses`)}); };
module.exports = new Proxy(fail, { get: (_t, k) => (k === '__esModule' ? false : fail()), apply: fail });`,
      loader: 'js',
    }));
  },
};

/** Builds the bundle from the tree at `root` into `out` with its record; returns the bundle's size in bytes. */
export async function buildBundle(root: string, out: string): Promise<number> {
  // esbuild is a build-time dependency: loaded only when a build runs.
  const { build } = await import('esbuild');
  const res = await build({
    entryPoints: [join(root, 'src/daemon/cli-entry.ts')],
    outfile: out,
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // CommonJS dependencies inside an ESM bundle still call require().
    banner: { js: "import { createRequire as __unibusRequire } from 'node:module'; const require = __unibusRequire(import.meta.url);" },
    plugins: [unusedByDaemon],
    logLevel: 'warning',
    legalComments: 'none',
    metafile: true,
    absWorkingDir: root,
  });
  const file = res.outputFiles.find((f) => f.path.endsWith('.mjs'));
  if (!file) throw new Error(`esbuild wrote no ${out}`);
  const bundle = Buffer.from(file.contents);
  // Keys of other namespaces ("unused-by-daemon:uqr") are modules made up by a plugin, not files.
  const inputs = Object.keys(res.metafile.inputs).filter((f) => !/^[a-z-]+:/.test(f) && !f.includes('node_modules/'));
  const record = makeRecord(root, inputs, bundle);
  // Bundle first, then its record: a build cut short between the two reads as stale.
  await writeFileAtomic(out, bundle, 0o644);
  await writeFileAtomic(recordPathOf(out), JSON.stringify(record, null, 1) + '\n', 0o644);
  return bundle.length;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = process.argv[2] ?? join(UNIBUS_ROOT, 'dist', 'membershipd.mjs');
  buildBundle(UNIBUS_ROOT, out).then(
    (size) => process.stdout.write(`${out} (${(size / 1024).toFixed(0)} KiB)\n`),
    (err: Error) => {
      process.stderr.write(`bundle: ${err.message}\n`);
      process.exit(1);
    },
  );
}
