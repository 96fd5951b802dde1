#!/usr/bin/env node
// Bundles membershipd into one file (dist/membershipd.mjs) that a host runs
// with its own `node`: the deploy uploads this single file, so a host needs no
// npm, no node_modules and no network.
//
// main.ts loads the control plane through a variable specifier (the module was
// optional while it was being written); a bundler cannot follow that, so the
// build rewrites it into a literal import and fails loudly if the pattern is
// gone, rather than shipping a daemon without its API.
import { build } from 'esbuild';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = process.argv[2] ?? `${ROOT}dist/membershipd.mjs`;

const literalControlPlane = {
  name: 'literal-control-plane',
  setup(b) {
    b.onLoad({ filter: /src[\\/]daemon[\\/]main\.ts$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const wanted = /const spec = '\.\/http\/routes\.js';\s*mod = await import\(spec\);/;
      if (!wanted.test(src) && !src.includes("await import('./http/routes.js')")) {
        throw new Error(`${args.path}: the control-plane import changed shape; update scripts/build-daemon.mjs`);
      }
      // Operator commands are found by name at run time; in a bundle they become a fixed table.
      const dir = new URL('../src/daemon/commands/', import.meta.url);
      const verbs = [];
      for (const f of await readdir(dir)) {
        // Only files that are verbs (export run); helpers such as opconn.ts are not.
        if (/^[a-z][a-z-]*\.ts$/.test(f) && /export async function run\(/.test(await readFile(new URL(f, dir), 'utf8'))) verbs.push(f.slice(0, -3));
      }
      const table = `({${verbs.map((v) => `${JSON.stringify(v)}: () => import('./commands/${v}.js')`).join(', ')}})`;
      const notFound = "Promise.reject(Object.assign(new Error('commands/' + verb + ' not found'), { code: 'ERR_MODULE_NOT_FOUND' }))";
      const dynamic = 'import(`./commands/${verb}.js`)';
      if (!src.includes(dynamic)) throw new Error(`${args.path}: the command import changed shape; update scripts/build-daemon.mjs`);
      const out = src
        .replace(wanted, "mod = await import('./http/routes.js');")
        .replace(dynamic, `(Object.hasOwn(${table}, verb) ? ${table}[verb]() : ${notFound})`);
      return { contents: out, loader: 'ts' };
    });
  },
};

// listhen imports node-forge (self-signed certificates for https) and uqr (a
// QR code in its banner) at its top level, so a bundle would evaluate all of
// node-forge at every start. membershipd asks listhen for neither: it listens
// on plain HTTP with the banner off. They are left out; reaching one anyway
// throws a clear error instead of running without it.
const unusedByDaemon = {
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

const res = await build({
  entryPoints: [`${ROOT}src/daemon/cli-entry.ts`],
  outfile: OUT,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // CommonJS dependencies inside an ESM bundle still call require().
  banner: { js: "import { createRequire as __unibusRequire } from 'node:module'; const require = __unibusRequire(import.meta.url);" },
  plugins: [literalControlPlane, unusedByDaemon],
  logLevel: 'warning',
  legalComments: 'none',
  metafile: true,
  absWorkingDir: ROOT,
});
// The inputs, so a deploy can tell whether the bundle is older than its sources.
const inputs = Object.keys(res.metafile.inputs).filter((f) => !f.includes('node_modules/'));
await writeFile(OUT.replace(/\.mjs$/, '') + '.inputs.json', JSON.stringify({ root: ROOT, inputs }, null, 1) + '\n');
const { size } = await stat(OUT);
process.stdout.write(`${OUT} (${(size / 1024).toFixed(0)} KiB)\n`);
