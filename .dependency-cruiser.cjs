// The layering of src/, checked by test/layering.test.ts (and by hand with
// `npx depcruise src`). Only src/ is checked: test/ and bench/ may import
// anything. A rule broken by a change is a question about the design, to be
// answered in docs/architecture.md and here, not by loosening a rule in
// passing.

/**
 * The layer order, highest first: a file may import its own tier and the
 * tiers below it, never one above. The shared bottom files (src/errors.ts,
 * src/secret.ts) are below every tier. The daemon is a program of its own:
 * it sits beside pki, inventory and client, is reached from above only
 * through src/daemon/index.ts, and itself imports only protocol, util and
 * the shared bottom files (rules below).
 */
const LAYERS = [
  ['cli', 'doctor'],
  ['playbook'],
  ['modules'],
  ['controller'],
  ['pki', 'inventory', 'client', 'daemon'],
  ['protocol', 'transport', 'template', 'yaml'],
  ['util'],
];
const SHARED = '^src/(errors|secret)\\.ts$';

const folders = (names) => `^src/(${names.join('|')})/`;
const placed = `${folders(LAYERS.flat())}|${SHARED}`;

const layerRules = LAYERS.slice(1).map((tier, i) => {
  const above = LAYERS.slice(0, i + 1).flat();
  return {
    name: `layer-order-${tier.join('-')}`,
    severity: 'error',
    comment:
      `src/{${tier.join(',')}} is below src/{${above.join(',')}} in the layer ` +
      'order cli > playbook > modules > controller > pki, inventory, client ' +
      '> protocol, transport, template, yaml > util: no import runs up it.',
    from: { path: folders(tier) },
    to: { path: folders(above) },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'client-not-to-daemon',
      severity: 'error',
      comment: 'The client speaks to membershipd over HTTP only; what both sides share is src/protocol.',
      from: { path: '^src/client/' },
      to: { path: '^src/daemon/' },
    },
    {
      name: 'daemon-only-protocol-util-shared',
      severity: 'error',
      comment:
        'membershipd is built and shipped on its own: it imports only src/protocol, src/util ' +
        'and the shared bottom files (never playbook, modules, controller, cli, ...).',
      from: { path: '^src/daemon/' },
      to: {
        path: '^src/',
        pathNot: `^src/(daemon|protocol|util)/|${SHARED}`,
      },
    },
    {
      name: 'daemon-through-its-entry',
      severity: 'error',
      comment: 'Outside src/daemon, the daemon is used only through its public entry, src/daemon/index.ts.',
      from: { path: '^src/', pathNot: '^src/daemon/' },
      to: { path: '^src/daemon/', pathNot: '^src/daemon/index\\.ts$' },
    },
    {
      name: 'modules-not-to-cli',
      severity: 'error',
      comment: 'A module returns commands as data; parsing arguments and printing belong to src/cli.',
      from: { path: '^src/modules/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'modules-not-to-daemon',
      severity: 'error',
      comment: 'Modules reach the cluster through src/controller, which alone uses the daemon (through its entry).',
      from: { path: '^src/modules/' },
      to: { path: '^src/daemon/' },
    },
    {
      name: 'protocol-only-util-shared',
      severity: 'error',
      comment:
        'src/protocol is the contract shared by client and daemon: it imports only src/util, ' +
        'the shared bottom files, npm packages and node builtins.',
      from: { path: '^src/protocol/' },
      to: {
        path: '^src/',
        pathNot: `^src/(protocol|util)/|${SHARED}`,
      },
    },
    ...layerRules,
    {
      name: 'shared-at-the-bottom',
      severity: 'error',
      comment: 'src/errors.ts and src/secret.ts are below every layer: they import no other file of src/.',
      from: { path: SHARED },
      to: { path: '^src/', pathNot: SHARED },
    },
    {
      name: 'layer-unplaced',
      severity: 'error',
      comment:
        'Every file of src/ belongs to a layer of LAYERS in .dependency-cruiser.cjs; ' +
        'a new folder is placed there before it is used.',
      from: { path: '^src/', pathNot: placed },
      to: {},
    },
    {
      name: 'layer-unplaced-target',
      severity: 'error',
      comment:
        'Every file of src/ belongs to a layer of LAYERS in .dependency-cruiser.cjs; ' +
        'a new folder is placed there before it is used.',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: placed },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No cycle of imports in src/, type-only imports included.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'Every import resolves; an import that does not resolve could not be checked ' +
        'against the rules above.',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.d\\.ts$' },
    // Parse the TypeScript itself, so that type-only imports are seen too.
    tsPreCompilationDeps: true,
    // Resolve as tsc does (NodeNext: a `.js` specifier names its `.ts` file).
    tsConfig: { fileName: 'tsconfig.json' },
    // npm packages through their `exports` maps (@nats-io/* has no other way in).
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
