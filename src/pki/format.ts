// Human-readable plan and result lines. Only paths, reasons, fingerprints and
// public keys ever reach these strings.
import { relative } from 'node:path';
import type { PkiAction, PkiPlan } from './types.js';

const VERB: Record<PkiAction['op'], string> = { mint: 'mint', write: 'write', reuse: 'keep', retire: 'retire', remove: 'remove' };

function files(a: PkiAction, base: string): string {
  const rel = a.files.map((f) => {
    const r = relative(base, f);
    return r && !r.startsWith('..') ? r : f;
  });
  return a.op === 'retire' ? `${rel[0]} -> ${rel[2]}` : rel.join(', ');
}

export function formatAction(a: PkiAction, base: string): string {
  const fp = a.fingerprint ? `  ${a.fingerprint}` : '';
  return `${VERB[a.op].padEnd(6)} ${files(a, base)}: ${a.reason}${fp}`;
}

/** The plan, one line per file group; `verbose` also lists what is kept. */
export function formatPlan(plan: PkiPlan, base = process.cwd(), verbose = true): string {
  const lines = plan.actions.filter((a) => verbose || a.op !== 'reuse').map((a) => formatAction(a, base));
  const counts = new Map<string, number>();
  for (const a of plan.actions) counts.set(a.op, (counts.get(a.op) ?? 0) + 1);
  const summary = [...counts].map(([op, n]) => `${VERB[op as PkiAction['op']]} ${n}`).join(', ');
  return [...lines, `pki: ${summary}`].join('\n');
}
