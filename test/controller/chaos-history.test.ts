// The run's journal read back: whole, split as bytes (a long run's journal
// outgrows V8's longest string), and from an offset, whole lines only.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { OPS_FILE, readHistory, readLines, readOpsFrom } from '../../src/controller/chaos/history.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-history-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const op = (id: number, node = 'n1') => JSON.stringify({ id, client: `${node}/0`, node, f: 'add-room', invoke: id, complete: id + 1, wall: 1, type: 'ok', status: 201, value: `r-é-${id}` });

test('readLines splits a file as bytes; an absent file has no lines', () => {
  const f = join(dir, 'a.ndjson');
  writeFileSync(f, 'é1\nb\n\nc');
  assert.deepEqual(readLines(f), ['é1', 'b', '', 'c']);
  assert.deepEqual(readLines(join(dir, 'none')), []);
});

test('readOpsFrom reads what was added since its last offset, whole lines only', () => {
  const run = join(dir, 'run');
  rmSync(run, { recursive: true, force: true });
  assert.deepEqual(readOpsFrom(run, 0), { ops: [], offset: 0 }, 'no journal yet');
  const f = join(dir, 'run', OPS_FILE);
  mkdirSync(run, { recursive: true });
  writeFileSync(f, `${op(1)}\n${op(2)}\n${op(3).slice(0, 20)}`);
  const a = readOpsFrom(run, 0);
  assert.deepEqual(a.ops.map((o) => o.id), [1, 2], 'a torn last line waits for its end');
  appendFileSync(f, `${op(3).slice(20)}\n${op(4, 'n2')}\n`);
  const b = readOpsFrom(run, a.offset);
  assert.deepEqual(b.ops.map((o) => [o.id, o.node, o.value]), [[3, 'n1', 'r-é-3'], [4, 'n2', 'r-é-4']]);
  assert.deepEqual(readOpsFrom(run, b.offset), { ops: [], offset: b.offset }, 'nothing new');
  assert.equal(readHistory(run).ops.length, 4, 'the whole journal reads the same ops');
});
