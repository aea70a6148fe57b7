// The time-range picker of list pages: quick spans (15 min … 7 days), all
// time, or a custom from/to (also set by dragging on a histogram). The
// choice lives in the URL (`range=1h`, or `since=…&until=…`) so a filtered
// view can be shared and survives a reload.
import { h } from './ui.js';

export const SPANS = [
  ['15m', '15 min', 15 * 60000],
  ['1h', '1 h', 3600000],
  ['24h', '24 h', 86400000],
  ['7d', '7 d', 7 * 86400000],
];

// {key} or {key: 'custom', since, until} (ms) from a page's query string.
export function rangeFromQuery(q, fallback = 'all') {
  const since = Date.parse(q.get('since') || '');
  const until = Date.parse(q.get('until') || '');
  if (!Number.isNaN(since) || !Number.isNaN(until)) return { key: 'custom', since: Number.isNaN(since) ? null : since, until: Number.isNaN(until) ? null : until };
  const key = q.get('range') || fallback;
  return SPANS.some((s) => s[0] === key) ? { key } : { key: 'all' };
}

// The query-string form of a range.
export function rangeToQuery(r) {
  if (r.key === 'custom') return { since: r.since ? new Date(r.since).toISOString() : '', until: r.until ? new Date(r.until).toISOString() : '' };
  return r.key === 'all' ? {} : { range: r.key };
}

// Absolute bounds (ms or null) of a range, now.
export function bounds(r, now = Date.now()) {
  if (r.key === 'custom') return { since: r.since ?? null, until: r.until ?? null };
  const span = SPANS.find((s) => s[0] === r.key);
  return span ? { since: now - span[2], until: null } : { since: null, until: null };
}

// An ISO bound for the API, or undefined (left out of the query).
export const iso = (ms) => (ms == null ? undefined : new Date(ms).toISOString());

// Does an instant (ISO string) fall inside the bounds?
export function within(b, ts) {
  const t = Date.parse(ts);
  return (b.since == null || t >= b.since) && (b.until == null || t < b.until);
}

// A `collect` filter for rows listed newest first by `field`: keeps those
// inside the bounds and stops at the first one older than them.
export function newestFirstWithin(b, field = 'last_seen') {
  return (r) => (b.since != null && Date.parse(r[field]) < b.since ? 'stop' : within(b, r[field]));
}

function localInput(ms) {
  if (ms == null) return '';
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export function describe(r) {
  if (r.key === 'all') return 'all time';
  if (r.key !== 'custom') return `last ${SPANS.find((s) => s[0] === r.key)[1]}`;
  const f = (ms) => new Date(ms).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return `${r.since ? f(r.since) : 'the start'} – ${r.until ? f(r.until) : 'now'}`;
}

// The control. `onChange(range)` on every choice; `.set(range)` redraws
// it (after a histogram drag).
export function rangeControl(initial, onChange) {
  let cur = initial;
  const buttons = [...SPANS.map(([key, label]) => [key, label]), ['all', 'All']].map(([key, label]) => {
    const b = h('button', { type: 'button', class: 'chip-btn', 'data-range': key }, label);
    b.addEventListener('click', () => { cur = { key }; draw(); onChange(cur); });
    return b;
  });
  const from = h('input', { type: 'datetime-local', 'aria-label': 'From', name: 'since', step: 1 });
  const to = h('input', { type: 'datetime-local', 'aria-label': 'To', name: 'until', step: 1 });
  const apply = h('button', { type: 'button', class: 'chip-btn', 'data-range': 'custom' }, 'Custom');
  apply.addEventListener('click', () => {
    const since = from.value ? new Date(from.value).getTime() : null;
    const until = to.value ? new Date(to.value).getTime() : null;
    cur = { key: 'custom', since, until };
    draw();
    onChange(cur);
  });
  const info = h('span', { class: 'muted small range-info' });
  const el = h('div', { class: 'range', role: 'group', 'aria-label': 'Time range' }, buttons, h('span', { class: 'range-custom' }, from, to, apply), info);
  function draw() {
    for (const b of [...buttons, apply]) b.setAttribute('aria-pressed', String(b.dataset.range === cur.key));
    if (cur.key === 'custom') { from.value = localInput(cur.since); to.value = localInput(cur.until); }
    info.textContent = describe(cur);
  }
  draw();
  el.set = (r) => { cur = r; draw(); };
  el.get = () => cur;
  return el;
}
