import { createHash } from 'node:crypto';
import { PATH_STAT } from '../../src/modules/facts/paths.js';
import { DirectReader } from '../../src/modules/facts/read.js';
import type { ModuleContext } from '../../src/modules/types.js';
import { FakeTransport } from '../harness/fake-transport.js';
import { LazyLocalTransport } from '../../src/transport/connect.js';

/** The stat script's text, as the fact sends it. */
const STAT_SCRIPT = PATH_STAT.argv([])[2];

const TYPE_NAME = { file: 'regular file', directory: 'directory' } as const;

/**
 * A fake host that answers the read-only fact commands (the stat script and
 * `test -e`) from its in-memory filesystem, in the exact output format of
 * the real script (which test/modules/local-converge.test.ts runs for real).
 */
export function fakeHost(host = 'h1'): FakeTransport {
  const t = new FakeTransport(host);
  t.on(
    (req) => req.argv[0] === 'sh' && req.argv[2] === STAT_SCRIPT,
    (req, fake) => {
      const lines = req.argv.slice(4).map((p) => {
        const e = fake.files.get(p);
        if (!e) return 'A';
        const sha = e.type === 'file' ? createHash('sha256').update(e.content).digest('hex') : '-';
        const size = e.type === 'file' ? e.content.length : 4096;
        return `P|${TYPE_NAME[e.type]}|${e.mode.toString(8)}|${e.owner}|${e.group}|${size}|${sha}`;
      });
      return { code: 0, stdout: lines.map((l) => l + '\n').join(''), stderr: '' };
    },
  );
  t.on(['test', '-e'], (req, fake) => ({ code: fake.files.has(req.argv[2]!) ? 0 : 1, stdout: '', stderr: '' }));
  return t;
}

export function makeCtx(t: FakeTransport, over: Partial<ModuleContext> = {}): ModuleContext {
  return {
    transport: t,
    facts: new DirectReader(over.transport ?? t),
    controller: new DirectReader(new LazyLocalTransport('controller')),
    vars: {},
    check: false,
    baseDirs: [],
    render: () => {
      throw new Error('render not expected');
    },
    host: t.host,
    ...over,
  };
}

export function sha256(b: string | Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
