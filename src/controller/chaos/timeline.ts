// The run as a picture: one HTML page (no external resource) with an SVG
// timeline beside the checker's counts. One lane per node; each op a dot at
// its invoke time, at the height of its latency on a log scale (1 ms at the
// bottom, 10 s at the top), coloured by outcome; a shaded band per fault
// over the lanes of its targets (a fault without targets: every lane); and
// below, the acknowledged ops per second.
//
// The page measures itself once loaded (a short inline script) and writes
// what it drew into <pre id="layout"> as JSON: lanes, bands, dots, and the
// throughput bars, with their boxes as the browser laid them out. A test
// reads that back from headless Chromium.
import type { CheckResult } from './checker.js';
import type { FaultRecord, Op } from './history.js';

const W = 1200;
const LEFT = 70;
const RIGHT = 20;
const LANE_H = 110;
const LANE_GAP = 14;
const TPUT_H = 70;
const MIN_MS = 1;
const MAX_MS = 10_000;
const COLOR = { ok: '#2e7d32', fail: '#c62828', info: '#ef8f00' } as const;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (x: number) => (Math.round(x * 10) / 10).toString();

export interface TimelineMeta {
  run: string;
  seed?: number;
}

/** The page for a run's history and its check. */
export function renderTimeline(ops: Op[], faults: FaultRecord[], check: CheckResult, meta: TimelineMeta): string {
  const nodes = [...new Set(ops.map((o) => o.node))].sort();
  const runOps = ops.filter((o) => o.f !== 'final-read' && o.f !== 'floor-write');
  const end = Math.max(1000, ...runOps.map((o) => o.complete), ...faults.map((f) => f.end));
  const plotW = W - LEFT - RIGHT;
  const x = (t: number) => LEFT + (Math.max(0, t) / end) * plotW;
  const laneTop = (i: number) => 30 + i * (LANE_H + LANE_GAP);
  const y = (lane: number, latency: number) => {
    const l = Math.min(MAX_MS, Math.max(MIN_MS, latency));
    const frac = Math.log10(l / MIN_MS) / Math.log10(MAX_MS / MIN_MS);
    return laneTop(lane) + LANE_H - frac * LANE_H;
  };
  const tputTop = laneTop(nodes.length) + 10;
  const H = tputTop + TPUT_H + 40;
  const svg: string[] = [];
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  // Fault bands under everything.
  for (const f of faults) {
    const lanes = f.targets.filter((t) => nodes.includes(t));
    const rows = lanes.length ? lanes.map((t) => nodes.indexOf(t)) : nodes.map((_, i) => i);
    for (const r of rows) {
      svg.push(`<rect class="fault" data-fault="${f.id}" data-family="${esc(f.family)}" data-node="${esc(nodes[r]!)}" x="${fmt(x(f.start))}" y="${laneTop(r)}" width="${fmt(Math.max(1, x(f.end) - x(f.start)))}" height="${LANE_H}" fill="${f.no_quorum.includes(nodes[r]!) ? '#90a4ae' : '#cfd8dc'}" fill-opacity="0.6"><title>${esc(f.name)} (${fmt(f.start / 1000)}-${fmt(f.end / 1000)} s)</title></rect>`);
    }
    svg.push(`<text class="fault-label" x="${fmt(x(f.start) + 2)}" y="${laneTop(rows[0]!) + 10}" fill="#37474f">${esc(f.family)}</text>`);
  }
  for (const [i, n] of nodes.entries()) {
    const mine = runOps.filter((o) => o.node === n);
    svg.push(`<g class="lane" data-node="${esc(n)}" data-ops="${mine.length}">`);
    svg.push(`<rect class="lane-bg" x="${LEFT}" y="${laneTop(i)}" width="${plotW}" height="${LANE_H}" fill="none" stroke="#b0bec5"/>`);
    svg.push(`<text x="8" y="${laneTop(i) + LANE_H / 2}" font-weight="bold">${esc(n)}</text>`);
    for (const ms of [1, 10, 100, 1000, 10_000]) {
      svg.push(`<text x="${LEFT - 4}" y="${fmt(y(i, ms) + 3)}" text-anchor="end" fill="#78909c" font-size="9">${ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`}</text>`);
    }
    for (const o of mine) {
      svg.push(`<circle class="op ${o.type}" cx="${fmt(x(o.invoke))}" cy="${fmt(y(i, o.complete - o.invoke))}" r="1.6" fill="${COLOR[o.type]}"/>`);
    }
    svg.push('</g>');
  }
  // Acknowledged ops per second.
  const secs = Math.ceil(end / 1000);
  const perSec = new Array<number>(secs).fill(0);
  for (const o of runOps) if (o.type === 'ok') perSec[Math.min(secs - 1, Math.floor(o.complete / 1000))]!++;
  const top = Math.max(1, ...perSec);
  svg.push(`<g class="throughput" data-max="${top}">`);
  svg.push(`<text x="8" y="${tputTop + TPUT_H / 2}">ok/s</text>`);
  for (const [s, n] of perSec.entries()) {
    const h = (n / top) * TPUT_H;
    svg.push(`<rect class="tput" data-second="${s}" data-ok="${n}" x="${fmt(x(s * 1000))}" y="${fmt(tputTop + TPUT_H - h)}" width="${fmt(Math.max(0.5, x((s + 1) * 1000) - x(s * 1000) - 0.5))}" height="${fmt(h)}" fill="#546e7a"/>`);
  }
  svg.push('</g>');
  for (let s = 0; s <= end / 1000; s += Math.max(1, Math.round(end / 1000 / 12))) {
    svg.push(`<text class="tick" x="${fmt(x(s * 1000))}" y="${H - 12}" text-anchor="middle" fill="#546e7a">${s}s</text>`);
  }
  svg.push('</svg>');

  const p = check.properties;
  const rows = Object.entries(p)
    .filter((e): e is [string, NonNullable<(typeof e)[1]>] => !!e[1])
    .map(([k, v]) => `<tr class="property" data-property="${k}" data-violations="${v.violations}"><td>${k}</td><td>${v.checked}</td><td>${v.violations}</td><td>${esc(v.unexercised ?? v.examples[0] ?? '')}</td></tr>`)
    .join('\n');
  const faultRows = check.faults
    .map((f) => `<tr class="fault-row"><td>${esc(f.name)}</td><td>${fmt(f.start / 1000)}-${fmt(f.end / 1000)} s</td><td>${f.ops}</td><td>${f.ok}/${f.fail}/${f.info}</td><td>${f.unavailable_ms === null ? '-' : `${Math.round(f.unavailable_ms)} ms`}</td><td>${typeof f.floor_ms === 'number' ? `${Math.round(f.floor_ms)} ms` : '-'}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>unibus chaos ${esc(meta.run)}</title>
<style>body{font-family:sans-serif;margin:16px;color:#263238}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #cfd8dc;padding:2px 8px;text-align:left}.legend span{margin-right:14px}</style></head>
<body>
<h1>chaos run ${esc(meta.run)}</h1>
<p id="summary" data-ops="${check.ops.total}" data-ok="${check.ops.ok}" data-fail="${check.ops.fail}" data-info="${check.ops.info}">${meta.seed === undefined ? '' : `seed ${meta.seed}; `}ops ${check.ops.total}: ok ${check.ops.ok}, fail ${check.ops.fail}, info ${check.ops.info}; latency p50 ${fmt(check.latency.p50 ?? 0)} ms, p99 ${fmt(check.latency.p99 ?? 0)} ms</p>
<p class="legend"><span style="color:${COLOR.ok}">● ok</span><span style="color:${COLOR.fail}">● fail</span><span style="color:${COLOR.info}">● info (unknown)</span><span>dot height: latency, log scale; shaded: a fault (darker: no quorum there)</span></p>
${svg.join('\n')}
<h2>properties</h2>
<table id="properties"><tr><th>property</th><th>checked</th><th>violations</th><th>first example, or why not exercised</th></tr>
${rows}</table>
<h2>faults</h2>
<table id="faults"><tr><th>fault</th><th>window</th><th>ops</th><th>ok/fail/info</th><th>unavailable</th><th>bare nats-server</th></tr>
${faultRows}</table>
<pre id="layout"></pre>
<script>
addEventListener('load', () => {
  const box = (e) => { const b = e.getBoundingClientRect(); return { x: Math.round(b.x), y: Math.round(b.y), w: Math.round(b.width), h: Math.round(b.height) }; };
  const all = (s) => [...document.querySelectorAll(s)];
  document.getElementById('layout').textContent = JSON.stringify({
    lanes: all('g.lane').map((g) => ({ node: g.dataset.node, ops: Number(g.dataset.ops), dots: g.querySelectorAll('circle.op').length, box: box(g.querySelector('rect.lane-bg')) })),
    bands: all('rect.fault').map((r) => ({ fault: r.dataset.fault, family: r.dataset.family, node: r.dataset.node, box: box(r) })),
    dots: { ok: all('circle.op.ok').length, fail: all('circle.op.fail').length, info: all('circle.op.info').length },
    throughput: all('rect.tput').map((r) => ({ second: Number(r.dataset.second), ok: Number(r.dataset.ok), h: box(r).h })),
  });
});
</script>
</body></html>
`;
}
