// The path facts shared by copy, template, file, command and the cluster
// modules: a stat of several paths in one exec (so a no-op run stays one
// round trip per task), whether a path exists, and the commands that change
// them, each carrying its effect so that check mode can predict the stat a
// later task will read (PathModel) without parsing argv.
import { posix } from 'node:path';
import { formatMode } from '../../util/format.js';
import type { Command } from '../types.js';
import type { Fact, PathEffect } from './types.js';
import { sha256Hex } from '../../util/hash.js';

export type PathFacts =
  | { path: string; exists: false }
  | {
      path: string;
      exists: true;
      type: 'file' | 'directory' | 'other';
      mode: number;
      owner: string;
      group: string;
      size: number;
      /** Hex sha256 of a regular file's content. */
      sha256?: string;
    };

/**
 * Prints one line per path argument: `A` when absent, else
 * `P|<%F>|<%a>|<%U>|<%G>|<%s>|<sha256 or ->`. Symlinks are followed, as copy
 * and template write through them.
 */
const STAT_SCRIPT = [
  'for p in "$@"; do',
  '  if [ -e "$p" ]; then',
  `    s=$(stat -L -c '%F|%a|%U|%G|%s' -- "$p") || exit 2`,
  '    h=-',
  '    if [ -f "$p" ]; then h=$(sha256sum -- "$p" | cut -c1-64) || exit 2; fi',
  `    printf 'P|%s|%s\\n' "$s" "$h"`,
  '  else',
  `    printf 'A\\n'`,
  '  fi',
  'done',
].join('\n');

function parseType(t: string): 'file' | 'directory' | 'other' {
  if (t === 'regular file' || t === 'regular empty file') return 'file';
  if (t === 'directory') return 'directory';
  return 'other';
}

function parseStatLine(path: string, line: string): PathFacts | null {
  if (line === 'A') return { path, exists: false };
  const f = line.split('|');
  if (f.length !== 7 || f[0] !== 'P') return null;
  const mode = parseInt(f[2]!, 8);
  const size = Number(f[5]);
  if (Number.isNaN(mode) || Number.isNaN(size)) return null;
  return { path, exists: true, type: parseType(f[1]!), mode, owner: f[3]!, group: f[4]!, size, ...(f[6] !== '-' ? { sha256: f[6]! } : {}) };
}

/** Type, mode, owner, size and content hash of each path, in one exec. */
export const PATH_STAT: Fact<readonly string[], PathFacts[]> = {
  name: 'stat of',
  describe: (paths) => paths.join(', '),
  argv: (paths) => ['sh', '-c', STAT_SCRIPT, 'unibus-stat', ...paths],
  parse(paths, r) {
    if (r.code !== 0) return null;
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    if (lines.length !== paths.length) return null;
    const out = paths.map((p, i) => parseStatLine(p, lines[i]!));
    return out.every((x) => x !== null) ? (out as PathFacts[]) : null;
  },
};

/** Whether a path exists (`test -e`). */
export const PATH_EXISTS: Fact<string, boolean> = {
  name: 'existence of',
  argv: (path) => ['test', '-e', path],
  parse: (_path, r) => (r.code === 0 ? true : r.code === 1 ? false : null),
};

/** The commands that change path facts: each carries its effect beside its argv. */
export const pathCommands = {
  mkdir: (path: string, sudo?: boolean): Command => ({ kind: 'exec', argv: ['mkdir', '-p', '--', path], sudo, effect: { op: 'mkdir', paths: [path] } }),
  touch: (path: string, sudo?: boolean): Command => ({ kind: 'exec', argv: ['touch', '--', path], sudo, effect: { op: 'touch', paths: [path] } }),
  remove: (path: string, sudo?: boolean): Command => ({ kind: 'exec', argv: ['rm', '-rf', '--', path], sudo, effect: { op: 'remove', paths: [path] } }),
  chmod: (mode: number, path: string, sudo?: boolean): Command => ({ kind: 'exec', argv: ['chmod', formatMode(mode), '--', path], sudo, effect: { op: 'chmod', mode, paths: [path] } }),
  // owner:group, owner alone, or :group alone (never `owner:`, which would mean the login group).
  chown: (owner: string | undefined, group: string | undefined, path: string, sudo?: boolean): Command => ({
    kind: 'exec',
    argv: ['chown', `${owner ?? ''}${group ? `:${group}` : ''}`, '--', path],
    sudo,
    effect: { op: 'chown', ...(owner ? { owner } : {}), ...(group ? { group } : {}), paths: [path] },
  }),
};

interface Entry {
  type: 'file' | 'directory' | 'absent';
  content?: Buffer;
  mode: number;
  owner: string;
  group: string;
}

const ABSENT: Entry = { type: 'absent', mode: 0, owner: '', group: '' };

/**
 * Check mode's model of a host's paths: what the planned uploads and path
 * effects would leave. A path it has no entry for is read from the host
 * (`current`), also when one of its parents was planned away (absent).
 */
export class PathModel {
  readonly #state = new Map<string, Entry>();

  constructor(private readonly user: string, private readonly current: (path: string) => Promise<PathFacts & { content?: Buffer | null }>) {}

  /** The model's entry for a path, or undefined when the host answers. */
  #lookup(path: string): Entry | undefined {
    const p = posix.normalize(path);
    const own = this.#state.get(p);
    if (own) return own;
    for (let d = posix.dirname(p); d !== '/' && d !== '.'; d = posix.dirname(d)) {
      if (this.#state.get(d)?.type === 'absent') return ABSENT;
    }
    return undefined;
  }

  async #entry(path: string): Promise<Entry> {
    const known = this.#lookup(path);
    if (known) return known;
    const f = await this.current(path);
    if (!f.exists) return ABSENT;
    return { type: f.type === 'file' ? 'file' : 'directory', content: f.content ?? undefined, mode: f.mode, owner: f.owner, group: f.group };
  }

  /** The predicted stat of a path, or undefined when the model has no word on it. */
  predictStat(path: string): PathFacts | undefined {
    const e = this.#lookup(path);
    if (!e) return undefined;
    if (e.type === 'absent') return { path, exists: false };
    const size = e.type === 'file' ? e.content!.length : 4096;
    const sha256 = e.type === 'file' ? sha256Hex(e.content!) : undefined;
    return { path, exists: true, type: e.type, mode: e.mode, owner: e.owner, group: e.group, size, ...(sha256 ? { sha256 } : {}) };
  }

  /** Predicted content: a Buffer, null when no file is predicted there, undefined when the host answers. */
  predictContent(path: string): Buffer | null | undefined {
    const e = this.#lookup(path);
    if (!e) return undefined;
    return e.type === 'file' ? Buffer.from(e.content!) : null;
  }

  /** An upload of `content` to `path`. */
  async upload(path: string, content: Buffer, o: { mode?: number; owner?: string; group?: string }): Promise<void> {
    const old = await this.#entry(path);
    const kept = old.type === 'file';
    this.#state.set(posix.normalize(path), {
      type: 'file',
      content,
      mode: o.mode ?? (kept ? old.mode : 0o644),
      owner: o.owner ?? (kept ? old.owner : this.user),
      group: o.group ?? (kept ? old.group : this.user),
    });
  }

  async apply(e: PathEffect): Promise<void> {
    for (const p of e.paths) {
      const n = posix.normalize(p);
      if (e.op === 'mkdir') {
        for (let d = n; d !== '/' && d !== '.'; d = posix.dirname(d)) {
          if ((await this.#entry(d)).type !== 'absent') break;
          this.#state.set(d, { type: 'directory', mode: 0o755, owner: this.user, group: this.user });
        }
      } else if (e.op === 'touch') {
        if ((await this.#entry(n)).type === 'absent') this.#state.set(n, { type: 'file', content: Buffer.alloc(0), mode: 0o644, owner: this.user, group: this.user });
      } else if (e.op === 'remove') {
        for (const k of [...this.#state.keys()]) if (k.startsWith(n + '/')) this.#state.delete(k);
        this.#state.set(n, ABSENT);
      } else {
        const old = await this.#entry(n);
        if (old.type === 'absent') continue;
        const next = { ...old };
        if (e.op === 'chmod') next.mode = e.mode;
        else {
          if (e.owner) next.owner = e.owner;
          if (e.group) next.group = e.group;
        }
        this.#state.set(n, next);
      }
    }
  }
}
