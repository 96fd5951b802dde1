// unibus command line: parses the verb and hands the rest to that verb's file.
// Each verb module exports `run(args: string[]): Promise<number>` (the exit code).

const VERBS: Record<string, { load: () => Promise<{ run(args: string[]): Promise<number> }>; help: string }> = {
  play: { load: () => import('./play.js'), help: 'play <playbook> [--check] [--diff] [--limit H] [--tags T] [--json] [-i FILE] (play --help for all)' },
  inventory: { load: () => import('./inventory.js'), help: 'inventory check|show [--host H] [--json]|diff OLD NEW (a file or REV:path) [-i FILE]' },
  pki: { load: () => import('./pki.js'), help: 'pki check|mint|rotate-route-ca|drop-old-route-ca [--check] [--json] [-i FILE]' },
  status: { load: () => import('./status.js'), help: 'status [--json] [-i FILE]: the cluster at a glance; exit 1 on drift' },
  api: { load: () => import('./api.js'), help: 'api [--url U] [--handle H] [--key-file F] me|users|rooms|room R|...: call the membershipd API' },
  chaos: { load: () => import('./chaos.js'), help: 'chaos report [RUN] [--out DIR] [--json]: a checked chaos run\'s report; exit 2 when a property was violated' },
  doctor: { load: () => import('./doctor.js'), help: 'doctor [--fix] [--lab]: what this controller is missing, and how to fix it' },
};

function usage(): string {
  return ['usage: unibus <verb> ...', ...Object.values(VERBS).map((v) => `  unibus ${v.help}`)].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || verb === '-h' || verb === '--help' || verb === 'help') {
    console.log(usage());
    return verb ? 0 : 2;
  }
  const entry = VERBS[verb];
  if (!entry) {
    console.error(`unibus: unknown verb '${verb}'\n${usage()}`);
    return 2;
  }
  const mod = await entry.load();
  return mod.run(rest);
}
