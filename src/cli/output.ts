// Printers of run events: plain Ansible-like lines (with a live one-line
// progress on a TTY), or one JSON object per line for CI. Color only on a TTY
// and never when NO_COLOR is set (https://no-color.org).
import type { Command, FileDiff } from '../modules/types.js';
import type { HostCounts, RunEvent } from '../playbook/events.js';

export interface Describers {
  describeCommand(c: Command): string;
  formatDiff(d: FileDiff): string;
}

export interface PrinterOptions {
  verbose: boolean;
  diff: boolean;
  check: boolean;
  write: (s: string) => void;
  tty: boolean;
  color: boolean;
  describers: Describers;
  /**
   * Where [WARNING] lines go, and whether they may be colored (that stream's
   * own TTY test): stderr in the CLI, as ansible-playbook's, so that a warning
   * still reaches the terminal when the output is piped or saved. Absent:
   * `write`, with `color`.
   */
  warn?: { write: (s: string) => void; color: boolean };
}

const COLORS = { ok: 32, changed: 33, skipped: 36, failed: 31, unreachable: 31, warn: 35, head: 1 } as const;

/**
 * JSON lines. Commands are given as their printed form (describeCommand) and
 * diffs as unified text: never raw upload bytes, which may be sensitive.
 */
export function jsonPrinter(write: (s: string) => void, d: Describers, withDiff = false): (ev: RunEvent) => void {
  return (ev) => {
    if (ev.event === 'host_start') return;
    const shown =
      ev.event === 'host_result'
        ? { ...ev, commands: ev.commands.map((c) => d.describeCommand(c)), diff: withDiff ? ev.diff.map((x) => d.formatDiff(x)) : undefined }
        : ev;
    write(JSON.stringify({ ...shown, ts: new Date().toISOString() }) + '\n');
  };
}

function header(title: string): string {
  return `${title} ${'*'.repeat(Math.max(3, 72 - title.length))}`;
}

export function recapLines(hosts: Record<string, HostCounts>, paint: (k: keyof typeof COLORS, s: string) => string): string[] {
  const width = Math.max(0, ...Object.keys(hosts).map((h) => h.length));
  return Object.entries(hosts).map(([h, c]) => {
    const name = c.failed || c.unreachable ? paint('failed', h) : c.changed ? paint('changed', h) : paint('ok', h);
    const f = (k: keyof HostCounts, color: keyof typeof COLORS) => (c[k] ? paint(color, `${k}=${c[k]}`) : `${k}=0`);
    return `${name}${' '.repeat(width - h.length)} : ${f('ok', 'ok')}  ${f('changed', 'changed')}  ${f('unreachable', 'unreachable')}  ${f('failed', 'failed')}  ${f('skipped', 'skipped')}`;
  });
}

export function textPrinter(o: PrinterOptions): { emit: (ev: RunEvent) => void; end: () => void } {
  const paint = (k: keyof typeof COLORS, s: string) => (o.color ? `\x1b[${COLORS[k]}m${s}\x1b[0m` : s);
  const running = new Map<string, string>();
  let progressShown = false;
  const clearProgress = () => {
    if (progressShown) o.write('\r\x1b[K');
    progressShown = false;
  };
  const showProgress = () => {
    if (!o.tty || running.size === 0) return;
    const tasks = new Map<string, string[]>();
    for (const [h, t] of running) tasks.set(t, [...(tasks.get(t) ?? []), h]);
    const line = [...tasks].map(([t, hs]) => `${t} on ${hs.join(', ')}`).join(' | ');
    const cols = process.stdout.columns || 100;
    o.write(`\r\x1b[K… ${line.length > cols - 3 ? line.slice(0, cols - 4) + '…' : line}`);
    progressShown = true;
  };
  const line = (s: string) => {
    clearProgress();
    o.write(s + '\n');
  };
  const emit = (ev: RunEvent) => {
    switch (ev.event) {
      case 'run_start':
        if (ev.check) line(paint('head', 'CHECK MODE: nothing is changed on any host; this is the plan.'));
        return;
      case 'play_start':
        line('');
        line(paint('head', header(`PLAY [${ev.play}]${ev.batch ? ` (batch ${ev.batch}/${ev.batches})` : ''}`)));
        return;
      case 'task_start':
        line('');
        line(paint('head', header(`TASK [${ev.role ? `${ev.role} : ` : ''}${ev.task}]`)));
        return;
      case 'handler':
        line('');
        line(paint('head', header(`RUNNING HANDLER [${ev.handler}]`)));
        return;
      case 'host_start':
        running.set(ev.host, ev.task);
        clearProgress();
        showProgress();
        return;
      case 'warning': {
        const text = `[WARNING]: ${ev.host ? `${ev.host}: ` : ''}${ev.message}`;
        if (o.warn) {
          clearProgress();
          o.warn.write((o.warn.color ? `\x1b[${COLORS.warn}m${text}\x1b[0m` : text) + '\n');
        } else {
          line(paint('warn', text));
        }
        return;
      }
      case 'host_result': {
        running.delete(ev.host);
        const label = { ok: 'ok', changed: o.check ? 'would change' : 'changed', skipped: 'skipping', failed: 'failed', unreachable: 'UNREACHABLE' }[ev.status];
        const reason = ev.status === 'ok' && !o.verbose && !ev.report ? '' : ` ${ev.status === 'failed' || ev.status === 'unreachable' ? '=> ' : ''}${ev.reason}`;
        const once = ev.delegatedFor?.length ? ` (run_once, for ${ev.delegatedFor.join(', ')})` : '';
        line(`${paint(ev.status, `${label}: [${ev.host}]`)}${once}${reason}`);
        if (ev.items && (o.verbose || ev.status !== 'ok')) {
          for (const it of ev.items) line(`  ${paint(it.status, it.status)}: (item=${typeof it.item === 'string' ? it.item : JSON.stringify(it.item)}) ${it.reason}`);
        }
        const showCommands = ev.status === 'changed' || ev.status === 'failed' ? o.check || o.verbose : false;
        if (showCommands) for (const c of ev.commands) line(`    $ ${o.describers.describeCommand(c)}`);
        if (o.diff && ev.status === 'changed') for (const d of ev.diff) line(o.describers.formatDiff(d).replace(/\n$/, ''));
        showProgress();
        return;
      }
      case 'recap':
        line('');
        line(paint('head', header(ev.check ? 'PLAY RECAP (predicted by check mode)' : 'PLAY RECAP')));
        for (const l of recapLines(ev.hosts, paint)) line(l);
        return;
    }
  };
  return { emit, end: clearProgress };
}
