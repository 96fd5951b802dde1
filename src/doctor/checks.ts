// What `unibus doctor` checks on the controller, and how it judges what it
// found. Pure: probing (running the commands) lives in probe.ts, so the
// judging and the report are tested on given outputs.
import { compareVersions } from '../util/version.js';

export type Group = 'controller' | 'lab';

export interface CheckSpec {
  id: string;
  /** The command looked for on PATH (or 'node' for the running Node). */
  command: string;
  versionArgs: string[];
  /** Lowest good version, dotted; absent when any version will do. */
  min?: string;
  group: Group;
  /** Debian package that provides it, installed by `doctor --fix`. */
  aptPackage?: string;
  /** A project script that installs it instead (relative to the package root). */
  script?: string;
  /** The fix in words when no command can do it. */
  advice?: string;
  /** Picks the version out of the command's output; default: the first dotted number. */
  parse?: (output: string) => string | undefined;
}

export interface Probe {
  found: boolean;
  /** Where it was found. */
  path?: string;
  /** stdout and stderr of the version command. */
  output: string;
}

export interface CheckResult {
  id: string;
  group: Group;
  required: boolean;
  found: boolean;
  path?: string;
  version?: string;
  min?: string;
  ok: boolean;
  problem?: string;
  /** The command (or words) that fixes it, when not ok. */
  fix?: string;
}

/** First dotted version number in a tool's output: "nats-server: v2.10.27" -> "2.10.27". */
export function parseVersion(output: string): string | undefined {
  return /(\d+\.\d+(?:\.\d+)?)/.exec(output)?.[1];
}

export { compareVersions };

export const CHECKS: CheckSpec[] = [
  { id: 'node', command: 'node', versionArgs: ['--version'], min: '20.19', group: 'controller',
    advice: 'install Node.js 20.19 or newer (Debian 13 packages it: apt-get install -y nodejs)' },
  { id: 'nats-server', command: 'nats-server', versionArgs: ['--version'], min: '2.10', group: 'controller',
    script: 'scripts/install-nats-server.sh' },
  { id: 'ssh', command: 'ssh', versionArgs: ['-V'], group: 'controller', aptPackage: 'openssh-client',
    parse: (o) => /OpenSSH_(\d+\.\d+)/.exec(o)?.[1] ?? parseVersion(o) },
  { id: 'ssh-keygen', command: 'ssh-keygen', versionArgs: [], group: 'controller', aptPackage: 'openssh-client',
    parse: () => '' },
  { id: 'openssl', command: 'openssl', versionArgs: ['version'], min: '1.1.1', group: 'controller', aptPackage: 'openssl' },
  { id: 'debootstrap', command: 'debootstrap', versionArgs: ['--version'], group: 'lab', aptPackage: 'debootstrap' },
  { id: 'systemd-nspawn', command: 'systemd-nspawn', versionArgs: ['--version'], group: 'lab', aptPackage: 'systemd-container',
    parse: (o) => /systemd (\d+)/.exec(o)?.[1] },
  { id: 'dpkg-scanpackages', command: 'dpkg-scanpackages', versionArgs: ['--version'], group: 'lab', aptPackage: 'dpkg-dev' },
  { id: 'ip', command: 'ip', versionArgs: ['-V'], group: 'lab', aptPackage: 'iproute2',
    parse: (o) => /iproute2-(?:ss)?([\d.]+\d)/.exec(o)?.[1] ?? parseVersion(o) },
];

/** Judges one probe. Lab tools are required only when the lab is asked for. */
export function evaluate(spec: CheckSpec, probe: Probe, opts: { lab: boolean; root?: string }): CheckResult {
  const required = spec.group === 'controller' || opts.lab;
  const base = { id: spec.id, group: spec.group, required, found: probe.found, path: probe.path, min: spec.min };
  const fix = fixFor(spec, opts.root);
  if (!probe.found) return { ...base, ok: false, problem: 'not found', fix };
  const version = (spec.parse ?? parseVersion)(probe.output);
  if (spec.min) {
    if (!version) return { ...base, ok: false, problem: `cannot read its version from '${probe.output.trim().split('\n')[0] ?? ''}'`, fix };
    if (compareVersions(version, spec.min) < 0) {
      return { ...base, version, ok: false, problem: `version ${version} is older than ${spec.min}`, fix };
    }
  }
  return { ...base, version: version || undefined, ok: true };
}

export function fixFor(spec: CheckSpec, root = '.'): string | undefined {
  if (spec.script) return `bash ${root === '.' ? '' : root.replace(/\/$/, '') + '/'}${spec.script}`;
  if (spec.aptPackage) return `apt-get install -y ${spec.aptPackage}`;
  return spec.advice;
}

/** True when nothing required is missing or too old. */
export function allRequiredOk(results: CheckResult[]): boolean {
  return results.every((r) => r.ok || !r.required);
}

export function formatReport(results: CheckResult[], extra: string[] = []): string {
  const lines = ['unibus doctor'];
  for (const r of results) {
    const status = r.ok ? 'ok' : r.required ? 'MISSING' : 'missing';
    const what = `${r.id}${r.version ? ' ' + r.version : ''}${r.min ? ` (need >= ${r.min})` : ''}`;
    const where = r.ok ? (r.path ? `  ${r.path}` : '') : `  ${r.problem}`;
    lines.push(`  ${status.padEnd(8)} ${(r.group === 'lab' ? '[lab] ' : '') + what}${where}`);
    if (!r.ok && r.fix) lines.push(`           fix: ${r.fix}`);
  }
  lines.push(...extra);
  const bad = results.filter((r) => !r.ok && r.required);
  lines.push(bad.length ? `${bad.length} required item(s) missing: run 'unibus doctor --fix' or the fixes above` : 'all required items present');
  return lines.join('\n');
}
