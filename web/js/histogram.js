// Events over time as stacked SVG bars (one colour per series), with an
// optional drag-to-select of a time span (pointer; the keyboard has the
// range inputs beside the chart).
import { h, svg, clear } from './ui.js';

// Bucket widths the API accepts (minutes), smallest first.
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440];

// The smallest bucket giving at most `maxBars` bars over [start, end).
export function bucketMinutes(start, end, maxBars = 96) {
  const span = Math.max(60000, end - start) / 60000;
  return STEPS.find((m) => span / m <= maxBars) || 1440;
}

export const SERIES_COLOURS = ['#f5a524', '#58a6ff', '#3fb950', '#d2a8ff', '#ff7b72', '#79c0ff', '#8b98a8'];

function fmtTick(t, spanMs) {
  const d = new Date(t);
  if (spanMs > 2 * 86400000) return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// `series`: [{name, bins: Map(bucketStartMs → count)}]; `start`/`end` in
// ms; `stepMs` the bucket width. `onSelect({since, until})` after a drag.
export function drawHistogram(box, { series, start, end, stepMs, onSelect, label }) {
  clear(box);
  const first = Math.floor(start / stepMs) * stepMs;
  const times = [];
  for (let t = first; t < end; t += stepMs) times.push(t);
  const totals = times.map((t) => series.reduce((a, s) => a + (s.bins.get(t) || 0), 0));
  const max = Math.max(1, ...totals);
  const W = 560; const H = 130; const L = 34; const R = 6;
  const bw = (W - L - R) / Math.max(1, times.length);
  const peak = totals.reduce((a, b) => Math.max(a, b), 0);
  const sum = totals.reduce((a, b) => a + b, 0);
  const s = svg('svg', { viewBox: `0 0 ${W} ${H + 18}`, role: 'img', 'aria-label': `${label || 'Events over time'}: ${sum} events, peak ${peak} per ${Math.round(stepMs / 60000)} min` });
  s.appendChild(svg('line', { x1: L, y1: H, x2: W - R, y2: H, class: 'axis-line' }));
  s.appendChild(svg('text', { x: L - 4, y: 9, class: 'axis', 'text-anchor': 'end' }, String(max)));
  s.appendChild(svg('text', { x: L - 4, y: H, class: 'axis', 'text-anchor': 'end' }, '0'));
  times.forEach((t, i) => {
    if (!totals[i]) return;
    let y = H;
    const x = (L + i * bw + 0.5).toFixed(1);
    const w = Math.max(1, bw - 1).toFixed(1);
    const parts = [];
    series.forEach((se, k) => {
      const c = se.bins.get(t) || 0;
      if (!c) return;
      const bh = Math.max(1.5, (c / max) * (H - 4));
      y -= bh;
      parts.push(`${se.name}: ${c}`);
      s.appendChild(svg('rect', { x, y: y.toFixed(1), width: w, height: bh.toFixed(1), class: `bar s${k % SERIES_COLOURS.length}` }));
    });
    // One hover target per bucket with the whole breakdown.
    const hit = svg('rect', { x, y: 0, width: w, height: H, class: 'bar-hit', 'data-t': t });
    hit.appendChild(svg('title', null, `${new Date(t).toLocaleString()}: ${totals[i]}${series.length > 1 ? ` (${parts.join(', ')})` : ''}`));
    s.appendChild(hit);
  });
  const span = end - start;
  const ticks = 4;
  for (let k = 0; k <= ticks; k++) {
    const t = start + (span * k) / ticks;
    const x = L + ((t - first) / stepMs) * bw;
    s.appendChild(svg('text', { x: x.toFixed(1), y: H + 13, class: 'axis', 'text-anchor': k === 0 ? 'start' : k === ticks ? 'end' : 'middle' }, k === ticks ? 'now' : fmtTick(t, span)));
  }
  if (onSelect) {
    const sel = svg('rect', { x: 0, y: 0, width: 0, height: H, class: 'brush', visibility: 'hidden' });
    s.appendChild(sel);
    s.classList.add('brushable');
    const toT = (ev) => {
      const r = s.getBoundingClientRect();
      const x = ((ev.clientX - r.left) / r.width) * W;
      return first + ((Math.min(Math.max(x, L), W - R) - L) / bw) * stepMs;
    };
    const toX = (t) => L + ((t - first) / stepMs) * bw;
    let from = null;
    s.addEventListener('pointerdown', (ev) => { if (ev.button !== 0) return; from = toT(ev); s.setPointerCapture(ev.pointerId); sel.setAttribute('visibility', 'visible'); sel.setAttribute('x', toX(from)); sel.setAttribute('width', 0); });
    s.addEventListener('pointermove', (ev) => {
      if (from === null) return;
      const t = toT(ev);
      sel.setAttribute('x', toX(Math.min(from, t)).toFixed(1));
      sel.setAttribute('width', Math.abs(toX(t) - toX(from)).toFixed(1));
    });
    s.addEventListener('pointerup', (ev) => {
      if (from === null) return;
      const t = toT(ev);
      const a = Math.min(from, t); const b = Math.max(from, t);
      from = null;
      sel.setAttribute('visibility', 'hidden');
      // A click (no real drag) selects its whole bucket.
      if (b - a < stepMs / 4) { const q = Math.floor(a / stepMs) * stepMs; onSelect({ since: q, until: q + stepMs }); } else onSelect({ since: Math.floor(a), until: Math.ceil(b) });
    });
  }
  box.appendChild(s);
  if (series.length > 1) {
    box.appendChild(h('ul', { class: 'legend' }, series.map((se, k) => h('li', null, h('span', { class: `swatch s${k % SERIES_COLOURS.length}` }), se.name))));
  }
}

// API buckets ([{ts, count}]) as a Map keyed by bucket start.
export function binsOf(list, stepMs) {
  const m = new Map();
  for (const b of list || []) {
    const k = Math.floor(Date.parse(b.ts) / stepMs) * stepMs;
    m.set(k, (m.get(k) || 0) + b.count);
  }
  return m;
}
