import { formatMode } from '../util/format.js';

// Atomic write through a shell on the host, for ssh and for sudo: the content
// arrives on stdin (so secrets never appear in argv), lands in a 0600 temp
// file in the target's folder, is synced, gets its mode and owner, and only
// then is renamed over the target. A failure removes the temp file.

export const PUT_SCRIPT = [
  'set -e',
  'dest=$1; mode=$2; owner=$3; group=$4',
  'dir=$(dirname -- "$dest"); base=$(basename -- "$dest")',
  'tmp=$(mktemp "$dir/.$base.unibus-XXXXXXXX")',
  `trap 'rm -f -- "$tmp"' EXIT`,
  'cat > "$tmp"',
  'if [ -z "$mode" ] && [ -f "$dest" ]; then mode=$(stat -c %a -- "$dest"); fi',
  'chmod -- "${mode:-0644}" "$tmp"',
  'if [ -n "$owner" ] && [ -n "$group" ]; then chown -- "$owner:$group" "$tmp";',
  'elif [ -n "$owner" ]; then chown -- "$owner" "$tmp";',
  'elif [ -n "$group" ]; then chgrp -- "$group" "$tmp"; fi',
  'sync -- "$tmp"',
  'mv -f -- "$tmp" "$dest"',
  'trap - EXIT',
  'sync -- "$dir" 2>/dev/null || true',
].join('\n');

export function putArgv(path: string, opts: { mode?: number; owner?: string; group?: string }): string[] {
  return [
    'sh',
    '-c',
    PUT_SCRIPT,
    'unibus-put',
    path,
    opts.mode === undefined ? '' : formatMode(opts.mode),
    opts.owner ?? '',
    opts.group ?? '',
  ];
}

/** Prints the file base64-encoded, or exits 3 when it does not exist. */
export const GET_SCRIPT = 'if [ -e "$1" ]; then base64 -w0 -- "$1"; else exit 3; fi';

export function getArgv(path: string): string[] {
  return ['sh', '-c', GET_SCRIPT, 'unibus-get', path];
}
