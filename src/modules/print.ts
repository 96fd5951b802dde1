import { createTwoFilesPatch } from 'diff';
import { isSecret, type Secret } from '../secret.js';
import { quoteArgv } from '../util/shell.js';
import type { Command, FileDiff } from './types.js';
import { formatMode } from '../util/format.js';
import { sha256Hex } from '../util/hash.js';

// The one place plans and diffs turn into text. Secret bytes never reach it
// in clear: a Secret prints as its fingerprint, and a command marked secret
// has its stdin shown only as a fingerprint of the bytes.

/** `<redacted sha256:ab12cd34>` for any value, secret or not. */
export function fingerprintOf(v: string | Buffer | Secret): string {
  if (isSecret(v)) return v.toString();
  const h = sha256Hex(v).slice(0, 8);
  return `<redacted sha256:${h}>`;
}


function sha8(b: Buffer): string {
  return sha256Hex(b).slice(0, 8);
}

function describeStdin(cmd: Extract<Command, { kind: 'exec' }>): string {
  const s = cmd.stdin;
  if (s === undefined) return '';
  if (cmd.secret || isSecret(s)) return ` < ${fingerprintOf(s)}`;
  const n = Buffer.byteLength(s);
  return ` < (${n} bytes on stdin)`;
}

/** One line for a plan: the quoted argv (or the command's label), sudo, cwd and stdin. */
export function describeCommand(cmd: Command): string {
  if (cmd.kind === 'upload') {
    const parts: string[] = [];
    if (isSecret(cmd.content)) parts.push(`secret ${cmd.content.toString()}`);
    else parts.push(`${cmd.content.length} bytes`, `sha256 ${sha8(cmd.content)}`);
    if (cmd.mode !== undefined) parts.push(`mode ${formatMode(cmd.mode)}`);
    if (cmd.owner || cmd.group) parts.push(`owner ${cmd.owner ?? ''}:${cmd.group ?? ''}`);
    return `${cmd.sudo ? 'sudo ' : ''}upload ${cmd.path} (${parts.join(', ')})`;
  }
  const body = cmd.label ?? quoteArgv(cmd.argv);
  const cwd = cmd.cwd ? ` (in ${cmd.cwd})` : '';
  return `${cmd.sudo ? 'sudo ' : ''}${body}${cwd}${describeStdin(cmd)}`;
}

const FINGERPRINT = /^<redacted sha256:[0-9a-f]{8}>$/;

/** What a redacted side shows: a fingerprint as given, anything else hashed first. */
function redactedSide(v: string | null): string {
  if (v === null) return '(absent)';
  return FINGERPRINT.test(v) ? v : fingerprintOf(v);
}

/**
 * A unified diff for --diff (jsdiff's createTwoFilesPatch). A redacted diff
 * never shows content: only before and after fingerprints.
 */
export function formatFileDiff(d: FileDiff): string {
  if (d.redacted) {
    return `--- ${d.path}\n+++ ${d.path}\n(secret content) ${redactedSide(d.before)} -> ${redactedSide(d.after)}\n`;
  }
  const before = d.before ?? '';
  const after = d.after ?? '';
  return createTwoFilesPatch(
    d.before === null ? '/dev/null' : d.path,
    d.after === null ? '/dev/null' : d.path,
    before,
    after,
    d.before === null ? '(absent)' : 'before',
    d.after === null ? '(absent)' : 'after',
    { context: 3 },
  );
}
