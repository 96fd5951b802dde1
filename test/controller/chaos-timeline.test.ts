// The chaos timeline as headless Chromium lays it out: a lane per node with
// a dot per op of that node, a band per fault over its targets' lanes only,
// placed at its window on the time axis, throughput bars, and the counts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkHistory } from '../../src/controller/chaos/checker.js';
import type { FaultRecord, Op } from '../../src/controller/chaos/history.js';
import { renderTimeline } from '../../src/controller/chaos/timeline.js';
import { dumpDom } from '../harness/chromium.js';

const dir = mkdtempSync(join(tmpdir(), 'unibus-timeline-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Box { x: number; y: number; w: number; h: number }
interface Layout {
  lanes: { node: string; ops: number; dots: number; box: Box }[];
  bands: { fault: string; family: string; node: string; box: Box }[];
  dots: { ok: number; fail: number; info: number };
  throughput: { second: number; ok: number; h: number }[];
}

test('the timeline shows a lane per node, each fault as a band over its targets at its window, and the counts', { timeout: 90_000 }, async () => {
  // 20 s of ops: n1 and n2 fine throughout, n3 refusing during its 8-12 s partition.
  const ops: Op[] = [];
  let id = 0;
  for (let t = 0; t < 20_000; t += 100) {
    for (const node of ['n1', 'n2', 'n3']) {
      const cut = node === 'n3' && t >= 8000 && t < 12_000;
      ops.push({ id: ++id, client: `${node}/0`, node, f: 'read-rooms', key: 'rooms:w', read: [], invoke: t, complete: t + (cut ? 3000 : 5 + (t % 40)), wall: 0, type: cut ? (t % 200 ? 'fail' : 'info') : 'ok', status: cut ? 503 : 200 });
    }
  }
  const faults: FaultRecord[] = [
    { id: 1, family: 'partition', name: 'isolate n3', targets: ['n3'], no_quorum: ['n3'], start: 8000, end: 12_000, wall: 0 },
    { id: 2, family: 'kill', name: 'kill n1, n2, n3', targets: [], no_quorum: [], start: 15_000, end: 16_000, wall: 0 },
  ];
  const check = checkHistory(ops, faults);
  const file = join(dir, 'timeline.html');
  writeFileSync(file, renderTimeline(ops, faults, check, { run: '20261206-030000', seed: 7 }));

  const dom = await dumpDom(file);
  const json = /<pre id="layout">([^<]*)<\/pre>/.exec(dom)?.[1];
  assert.ok(json, 'the page measured itself once loaded');
  const layout = JSON.parse(json.replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as Layout;

  assert.deepEqual(layout.lanes.map((l) => [l.node, l.ops, l.dots]), [['n1', 200, 200], ['n2', 200, 200], ['n3', 200, 200]]);
  for (const [i, l] of layout.lanes.entries()) {
    assert.ok(l.box.h > 50 && l.box.w > 800, `lane ${l.node} drawn: ${JSON.stringify(l.box)}`);
    if (i) assert.ok(l.box.y >= layout.lanes[i - 1]!.box.y + layout.lanes[i - 1]!.box.h, 'lanes do not overlap');
  }
  assert.deepEqual(layout.dots, { ok: 3 * 200 - 40, fail: 20, info: 20 });

  const part = layout.bands.filter((b) => b.fault === '1');
  assert.deepEqual(part.map((b) => [b.family, b.node]), [['partition', 'n3']], 'the partition shades n3 only');
  const lane = layout.lanes[2]!.box;
  const end = Math.max(...ops.map((o) => o.complete));
  const at = (ms: number) => lane.x + (ms / end) * lane.w;
  assert.ok(Math.abs(part[0]!.box.x - at(8000)) <= 3 && Math.abs(part[0]!.box.x + part[0]!.box.w - at(12_000)) <= 3, `the band spans 8-12 s: ${JSON.stringify(part[0]!.box)} on ${JSON.stringify(lane)}`);
  assert.ok(part[0]!.box.y >= lane.y - 1 && part[0]!.box.y + part[0]!.box.h <= lane.y + lane.h + 1, 'inside n3\'s lane');
  assert.deepEqual(layout.bands.filter((b) => b.fault === '2').map((b) => b.node), ['n1', 'n2', 'n3'], 'a fault without targets shades every lane');

  assert.equal(layout.throughput.length, 20);
  const dip = layout.throughput.find((s) => s.second === 9)!;
  const before = layout.throughput.find((s) => s.second === 3)!;
  assert.deepEqual([before.ok, dip.ok], [30, 20], 'n3 acknowledges nothing while cut off');
  assert.ok(dip.h < before.h && dip.h > 0, 'the bar dips');
  assert.match(dom, /<p id="summary"[^>]*>seed 7; ops 600: ok 560, fail 20, info 20;/);
  assert.match(dom, /<tr class="property" data-property="no_quorum" data-violations="0">/);
});
