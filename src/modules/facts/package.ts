// The package fact: whether each package is installed, its version, whether
// it meets a minimum, (for state latest) apt's candidate, and (for a pinned
// version) every version apt offers, in one exec.
import type { Fact } from './types.js';

/**
 * One exec for every package of the task. Arg 1 is 1 when candidates are
 * wanted (state latest); then `name`, `name>=version` or `name=version`
 * specs. One line per spec:
 * `name|status-abbrev|version|min-ok(yes/no/-)|candidate|offered`, where
 * offered (for `name=version` only, else -) is every version apt offers,
 * newest first, each followed by a comma.
 */
export const PKG_SCRIPT = [
  'want_cand=$1; shift',
  'for spec in "$@"; do',
  '  name=${spec%%[=>]*}; min=; pin=',
  `  case $spec in *'>='*) min=\${spec#*>=};; *'='*) pin=\${spec#*=};; esac`,
  `  st=$(dpkg-query -W -f='\${db:Status-Abbrev}|\${Version}' -- "$name" 2>/dev/null) || st='un|'`,
  '  ver=${st#*|}; ok=-',
  '  if [ -n "$min" ]; then',
  '    if [ -n "$ver" ] && dpkg --compare-versions "$ver" ge "$min"; then ok=yes; else ok=no; fi',
  '  fi',
  '  cand=-',
  `  if [ "$want_cand" = 1 ]; then cand=$(apt-cache policy -- "$name" 2>/dev/null | sed -n 's/^ *Candidate: //p'); fi`,
  '  offered=-',
  `  if [ -n "$pin" ]; then offered=$(apt-cache madison -- "$name" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); printf "%s,", $2 }'); fi`,
  `  printf '%s|%s|%s|%s|%s\\n' "$name" "$st" "$ok" "\${cand:-(none)}" "$offered"`,
  'done',
].join('\n');

export interface PkgFact {
  name: string;
  installed: boolean;
  version?: string;
  minOk?: boolean;
  candidate?: string;
  /** For a pinned version: every version apt offers, newest first. */
  offered?: string[];
}

export function parsePkgFacts(stdout: string, count: number): PkgFact[] | null {
  const lines = stdout.split('\n').filter(Boolean);
  if (lines.length !== count) return null;
  const out: PkgFact[] = [];
  for (const l of lines) {
    const [name, abbrev, version, ok, cand, offered] = l.split('|');
    if (name === undefined || abbrev === undefined || cand === undefined) return null;
    // Second letter of db:Status-Abbrev: n = not installed, c = config files only.
    const installed = !['n', 'c', undefined].includes(abbrev[1]);
    out.push({
      name,
      installed,
      ...(installed && version ? { version } : {}),
      ...(ok === 'yes' ? { minOk: true } : ok === 'no' ? { minOk: false } : {}),
      ...(cand !== '-' && cand !== '(none)' ? { candidate: cand } : {}),
      ...(offered !== undefined && offered !== '-' ? { offered: offered.split(',').filter(Boolean) } : {}),
    });
  }
  return out;
}

/** `specs`: `name`, `name>=version` or `name=version`; `candidates`: also read apt's candidate (state latest). */
export const PACKAGE_STATE: Fact<{ candidates: boolean; specs: string[] }, PkgFact[]> = {
  name: 'package state of',
  describe: (q) => q.specs.join(', '),
  // apt-cache policy can take a while on a cold cache.
  timeoutMs: 60_000,
  argv: (q) => ['sh', '-c', PKG_SCRIPT, 'unibus-pkg', q.candidates ? '1' : '0', ...q.specs],
  parse: (q, r) => (r.code === 0 ? parsePkgFacts(r.stdout, q.specs.length) : null),
};
