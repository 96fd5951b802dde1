import type { FromSchema } from 'json-schema-to-ts';
import { defineModule } from './define.js';
import { ModuleArgsError } from './errors.js';
import { PACKAGE_STATE } from './facts/package.js';
import type { ArgsSchema, Command, ModulePlan } from './types.js';

const argsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    names: { type: 'array', items: { type: 'string' } },
    state: { enum: ['present', 'absent', 'latest'] },
    update_cache: { type: 'boolean' },
  },
} as const satisfies ArgsSchema;
const NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const VERSION = /^[A-Za-z0-9.+~:-]+$/;

/** A pinned version as Ansible's apt takes one: exact, or with fnmatch's `*` and `?` (`nats-server=2.10.27-*`). */
const PIN = /^[A-Za-z0-9.+~:*?-]+$/;

interface Spec {
  name: string;
  min?: string;
  pin?: string;
}

/** Whether a Debian version matches a pin (fnmatch's * and ?, the rest literal). */
export function pinMatches(version: string, pin: string): boolean {
  const re = pin.replace(/[.+^$()|[\]{}\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(version);
}

/** Fails the task when apt could not reach the minimum version. */
export const MIN_CHECK_SCRIPT =
  `v=$(dpkg-query -W -f='\${Version}' -- "$1") && dpkg --compare-versions "$v" ge "$2" || { echo "$1 \${v:-not installed} is older than $2" >&2; exit 1; }`;


function readSpecs(args: FromSchema<typeof argsSchema>): Spec[] {
  const given = args.name ?? args.names;
  const list = typeof given === 'string' ? [given] : given;
  if (!list?.length) throw new ModuleArgsError('package', 'name', 'is required (a package name or a list)');
  return list.map((s, i) => {
    // `name`, `name>=minimum` or `name=pin`.
    const [, rawName, op, rawVer] = /^([^=>]*)(>=|=)?(.*)$/s.exec(s)!;
    const name = rawName!.trim();
    const ver = rawVer!.trim();
    if (!name || !NAME.test(name) || (!op && ver)) throw new ModuleArgsError('package', `name[${i}]`, `${JSON.stringify(s)} is not a Debian package name`);
    if (op === '=') {
      if (!ver || !PIN.test(ver)) throw new ModuleArgsError('package', `name[${i}]`, `${JSON.stringify(ver)} is not a version (exact, or with * and ?: name=2.10.27-*)`);
      return { name, pin: ver };
    }
    if (op === '>=' && !VERSION.test(ver)) throw new ModuleArgsError('package', `name[${i}]`, `${JSON.stringify(ver)} is not a version`);
    return op === '>=' ? { name, min: ver } : { name };
  });
}

const APT = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-q', '-y', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold'];

/**
 * apt packages: present, absent, latest, minimum versions (`nodejs>=20.19`,
 * compared with dpkg --compare-versions), and pinned versions as Ansible's apt
 * takes them (`nats-server=2.10.27-1+b2`, or `nats-server=2.10.27-*`: the
 * newest version apt offers that matches, installed as `name=version`; one
 * installed that matches is left alone; a pin apt would have to downgrade to
 * fails, as apt-get does without --allow-downgrades). `update_cache` runs
 * apt-get update only when something is to be installed, so a converged host
 * stays unchanged.
 */
export const pkg = defineModule({
  name: 'package',
  argsSchema,
  async plan(args, ctx): Promise<ModulePlan> {
    const specs = readSpecs(args);
    const state = args.state ?? 'present';
    const updateCache = args.update_cache ?? false;
    if (state !== 'present' && specs.some((s) => s.min)) {
      throw new ModuleArgsError('package', 'name', 'a minimum version (>=) goes with state present only');
    }
    if (state !== 'present' && specs.some((s) => s.pin)) {
      throw new ModuleArgsError('package', 'name', 'a pinned version (=) goes with state present only');
    }
    const sudo = ctx.become || undefined;
    const facts = await ctx.facts.read(PACKAGE_STATE, { candidates: state === 'latest', specs: specs.map((s) => (s.min ? `${s.name}>=${s.min}` : s.pin ? `${s.name}=${s.pin}` : s.name)) }, ctx.become);
    const versions = Object.fromEntries(facts.map((f) => [f.name, f.version ?? null]));

    if (state === 'absent') {
      const remove = facts.filter((f) => f.installed).map((f) => f.name);
      if (!remove.length) return { changed: false, reason: 'not installed', commands: [], result: { versions } };
      return { changed: true, reason: `remove ${remove.join(', ')}`, commands: [{ kind: 'exec', argv: [...APT, 'remove', ...remove], sudo, timeoutMs: 600_000 }], result: { versions } };
    }
    const install: string[] = [];
    const why: string[] = [];
    const checks: Command[] = [];
    for (const [i, f] of facts.entries()) {
      const s = specs[i]!;
      if (s.pin) {
        if (f.installed && f.version && pinMatches(f.version, s.pin)) continue;
        const to = (f.offered ?? []).find((v) => pinMatches(v, s.pin!));
        if (!to) return { changed: false, failed: true, reason: `no version of ${f.name} matches ${s.pin} (apt offers ${f.offered?.length ? f.offered.join(', ') : 'none'})`, commands: [], result: { versions } };
        install.push(`${f.name}=${to}`);
        why.push(`${f.name} ${f.installed ? f.version : 'missing'} -> ${to}`);
        continue;
      }
      if (!f.installed) {
        install.push(f.name);
        why.push(`${f.name} missing`);
      } else if (s.min && !f.minOk) {
        install.push(f.name);
        why.push(`${f.name} ${f.version} < ${s.min}`);
      } else if (state === 'latest' && f.candidate && f.candidate !== f.version) {
        install.push(f.name);
        why.push(`${f.name} ${f.version} -> ${f.candidate}`);
      }
      if (s.min && (!f.installed || !f.minOk)) {
        checks.push({ kind: 'exec', argv: ['sh', '-c', MIN_CHECK_SCRIPT, 'unibus-pkg-min', f.name, s.min], sudo, label: `check ${f.name} >= ${s.min}` });
      }
    }
    if (!install.length) return { changed: false, reason: 'up to date', commands: [], result: { versions } };
    const commands: Command[] = [];
    if (updateCache) commands.push({ kind: 'exec', argv: [...APT, 'update'], sudo, timeoutMs: 600_000 });
    commands.push({ kind: 'exec', argv: [...APT, 'install', ...install], sudo, timeoutMs: 900_000 }, ...checks);
    return { changed: true, reason: why.join(', '), commands, result: { versions } };
  },
});
