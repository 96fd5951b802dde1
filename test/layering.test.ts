// The layering of src/ (.dependency-cruiser.cjs), checked by dependency-cruiser
// through its API: src/ as it is breaks no rule, and each rule does catch the
// import it forbids (a rule whose paths match nothing would pass forever).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const root = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = join(root, '.dependency-cruiser.cjs');

/** The violations of the rules in CONFIG by baseDir/src, resolved with baseDir/tsconfig.json. */
async function cruiseSrc(baseDir: string): Promise<IViolation[]> {
  const options = await extractDepcruiseOptions(CONFIG);
  const tsConfigFile = join(baseDir, 'tsconfig.json');
  const result = await cruise(
    ['src'],
    { ...options, baseDir, tsConfig: { fileName: tsConfigFile } },
    undefined,
    { tsConfig: extractTSConfig(tsConfigFile) },
  );
  return (result.output as ICruiseResult).summary.violations;
}

function show(v: IViolation): string {
  const cycle = v.cycle?.length ? `  (cycle: ${[v.from, ...v.cycle.map((c) => c.name)].join(' -> ')})` : '';
  return `${v.from} -> ${v.to}  [${v.rule.name}]${cycle}`;
}

describe('layering of src/', () => {
  test('src/ breaks no rule of .dependency-cruiser.cjs', async () => {
    const violations = await cruiseSrc(root);
    const lines = violations.map(show);
    for (const line of lines) console.error(`layering violation: ${line}`);
    assert.equal(
      violations.length,
      0,
      `${violations.length} import(s) break the layering (from -> to [rule]):\n  ${lines.join('\n  ')}\n` +
        'the rules and the layer order are in .dependency-cruiser.cjs and docs/architecture.md',
    );
  });

  describe('each rule catches the import it forbids', () => {
    const dir = mkdtempSync(join(tmpdir(), 'unibus-layering-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    const files: Record<string, string> = {
      'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
      'src/errors.ts': "import { a } from './util/a.js';\nexport const e = a;\n",
      'src/secret.ts': 'export type Secret = string;\n',
      'src/util/a.ts': "import type { B } from './b.js';\nexport const a = 1;\nexport type A = B;\n",
      'src/util/b.ts': "import type { A } from './a.js';\nexport type B = A | number;\n",
      'src/util/up.ts': "import '../template/t.js';\n",
      'src/template/t.ts': 'export const t = 1;\n',
      'src/yaml/y.ts': "import '../inventory/i.js';\n",
      'src/inventory/i.ts': 'export const i = 1;\n',
      'src/transport/tr.ts': 'export const tr = 1;\n',
      'src/protocol/p.ts': "import '../transport/tr.js';\n",
      'src/daemon/index.ts': "export { users } from './store/users.js';\n",
      'src/daemon/store/users.ts': 'export const users = 1;\n',
      'src/daemon/store/up.ts': "import '../../controller/c.js';\n",
      'src/client/c.ts': "import { users } from '../daemon/store/users.js';\nexport const c = users;\n",
      'src/controller/c.ts': "import { users } from '../daemon/index.js';\nimport '../modules/m.js';\nexport const c = users;\n",
      'src/modules/m.ts': "import type { Cli } from '../cli/cli.js';\nexport type M = Cli;\n",
      'src/modules/md.ts': "import { users } from '../daemon/index.js';\nexport const md = users;\n",
      'src/playbook/p.ts': "import '../doctor/d.js';\nimport '../stray/s.js';\nimport '../nowhere.js';\n",
      'src/doctor/d.ts': 'export const d = 1;\n',
      'src/cli/cli.ts': "import '../playbook/p.js';\nexport type Cli = string;\n",
      'src/stray/s.ts': "import '../secret.js';\n",
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }

    test('every rule fires on its bad import, and only there', async () => {
      const found = (await cruiseSrc(dir)).map(show).sort();
      const expected = [
        'src/client/c.ts -> src/daemon/store/users.ts  [client-not-to-daemon]',
        'src/client/c.ts -> src/daemon/store/users.ts  [daemon-through-its-entry]',
        'src/controller/c.ts -> src/modules/m.ts  [layer-order-controller]',
        'src/daemon/store/up.ts -> src/controller/c.ts  [daemon-only-protocol-util-shared]',
        'src/daemon/store/up.ts -> src/controller/c.ts  [layer-order-pki-inventory-client-daemon]',
        'src/errors.ts -> src/util/a.ts  [shared-at-the-bottom]',
        'src/modules/m.ts -> src/cli/cli.ts  [layer-order-modules]',
        'src/modules/m.ts -> src/cli/cli.ts  [modules-not-to-cli]',
        'src/modules/md.ts -> src/daemon/index.ts  [modules-not-to-daemon]',
        'src/playbook/p.ts -> ../nowhere.js  [not-to-unresolvable]',
        'src/playbook/p.ts -> src/doctor/d.ts  [layer-order-playbook]',
        'src/playbook/p.ts -> src/stray/s.ts  [layer-unplaced-target]',
        'src/protocol/p.ts -> src/transport/tr.ts  [protocol-only-util-shared]',
        'src/stray/s.ts -> src/secret.ts  [layer-unplaced]',
        'src/util/a.ts -> src/util/b.ts  [no-circular]  (cycle: src/util/a.ts -> src/util/b.ts -> src/util/a.ts)',
        'src/util/up.ts -> src/template/t.ts  [layer-order-util]',
        'src/yaml/y.ts -> src/inventory/i.ts  [layer-order-protocol-transport-template-yaml]',
      ].sort();
      assert.deepEqual(found, expected);
      // A rule added to the config gets its bad import here too.
      const config = createRequire(import.meta.url)(CONFIG) as { forbidden: { name: string }[] };
      const fired = new Set(found.map((line) => /\[([^\]]+)\]/.exec(line)![1]));
      assert.deepEqual(config.forbidden.map((r) => r.name).filter((name) => !fired.has(name)), []);
    });
  });
});
