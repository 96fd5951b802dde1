// unibus doctor [--fix] [--lab]: what this controller is missing, and the
// command that fixes each item. --fix runs those commands (apt-get, the
// nats-server installer) and checks again. --lab makes the test lab's tools
// (debootstrap, systemd-nspawn, ...) required too. Exit 1 while something
// required is missing, 2 on a bad argument.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CHECKS, allRequiredOk, evaluate, formatReport, type CheckResult } from '../doctor/checks.js';
import { probe } from '../doctor/probe.js';

// src/cli/ under tsx and dist/cli/ when built: the package root is two up.
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

async function check(lab: boolean): Promise<CheckResult[]> {
  const results = await Promise.all(CHECKS.map(async (c) => evaluate(c, await probe(c), { lab, root: PACKAGE_ROOT })));
  const isRoot = process.getuid?.() === 0;
  results.push({
    id: 'root', group: 'lab', required: lab, found: isRoot, ok: isRoot,
    problem: 'the lab needs root (mounts, network namespaces, systemd-nspawn)', fix: 'run the lab as root',
  });
  return results;
}

function runFix(argv: string[]): boolean {
  console.log(`doctor: running ${argv.join(' ')}`);
  const r = spawnSync(argv[0]!, argv.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 15 * 60_000,
  });
  return r.status === 0;
}

function fix(results: CheckResult[]): void {
  const wanted = results.filter((r) => !r.ok && r.required);
  const apt = new Set<string>();
  const scripts = new Set<string>();
  for (const r of wanted) {
    const spec = CHECKS.find((c) => c.id === r.id);
    if (spec?.aptPackage) apt.add(spec.aptPackage);
    else if (spec?.script) scripts.add(`${PACKAGE_ROOT}/${spec.script}`);
    else console.log(`doctor: cannot fix ${r.id} by itself: ${r.fix ?? 'see above'}`);
  }
  if (apt.size) {
    runFix(['apt-get', 'update', '-q']);
    runFix(['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...apt]);
  }
  for (const s of scripts) {
    if (existsSync(s)) runFix(['bash', s]);
    else console.log(`doctor: ${s} is missing from this install`);
  }
}

export async function run(args: string[]): Promise<number> {
  const unknown = args.filter((a) => !['--fix', '--lab'].includes(a));
  if (unknown.length) {
    console.error(`unibus doctor: unknown argument '${unknown[0]}' (expected --fix and/or --lab)`);
    return 2;
  }
  const lab = args.includes('--lab');
  let results = await check(lab);
  if (args.includes('--fix') && !allRequiredOk(results)) {
    fix(results);
    results = await check(lab);
  }
  console.log(formatReport(results));
  return allRequiredOk(results) ? 0 : 1;
}
