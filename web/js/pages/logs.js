import { get, qs } from '../api.js';
import { h, clear, errorBox, pager, empty, card } from '../ui.js';
import { eventRow, eventTable, eventColumns } from '../events.js';
import { rangeControl, rangeFromQuery, rangeToQuery, bounds, iso, within } from '../timerange.js';
import { drawHistogram, binsOf, bucketMinutes } from '../histogram.js';
import { exportButtons, collect } from '../export.js';

const LIMIT = 50;
const KINDS = ['', 'connect', 'disconnect', 'auth_attempt', 'command', 'request', 'file_upload', 'file_download', 'scan', 'error', 'canary_trigger', 'fingerprint'];

export async function render(root, ctx) {
  const q = ctx.query;
  const f = {
    decky: h('input', { name: 'decky', placeholder: 'decky', value: q.get('decky') || '', 'aria-label': 'Decky' }),
    service: h('input', { name: 'service', placeholder: 'service', value: q.get('service') || '', 'aria-label': 'Service' }),
    kind: h('select', { name: 'kind', 'aria-label': 'Kind' }, KINDS.map((k) => h('option', { value: k }, k || 'any kind'))),
    src_ip: h('input', { name: 'src_ip', placeholder: 'source IP', value: q.get('src_ip') || '', 'aria-label': 'Source IP' }),
    search: h('input', { name: 'search', type: 'search', placeholder: 'search fields', value: q.get('search') || '', 'aria-label': 'Search' }),
  };
  f.kind.value = q.get('kind') || '';
  const followBtn = h('button', { type: 'button', id: 'follow', 'aria-pressed': 'true' }, 'Following');
  const pauseBtn = h('button', { type: 'button', id: 'pause', 'aria-pressed': 'false' }, 'Pause');
  const status = h('span', { class: 'muted', id: 'logs-status' });
  const form = h('form', { class: 'filters', role: 'search' }, Object.values(f), h('button', { type: 'submit', class: 'primary' }, 'Apply'), pauseBtn, followBtn, status);
  const { el: tableEl, tbody } = eventTable('log-rows');
  const pagerBox = h('div');
  const errBox = h('div');
  let range = rangeFromQuery(q);
  const rangeEl = rangeControl(range, (r) => { range = r; offset = 0; follow = bounds(r).until == null; setButtons(); load(); });
  const hist = h('div', { class: 'histogram', id: 'logs-histogram' });
  const exp = exportButtons('events', (progress) => {
    const b = bounds(range);
    return collect((off, lim) => get(`/logs${qs({ ...filters(), since: iso(b.since), until: iso(b.until), limit: lim, offset: off })}`), () => true, progress);
  }, eventColumns);
  root.append(h('h1', null, 'Live logs'), form, rangeEl,
    card(null, hist, h('p', { class: 'muted small' }, 'Drag across the chart (or click a bar) to narrow the time range.')),
    exp, errBox, tableEl, pagerBox);

  let offset = Number(q.get('offset') || 0);
  let paused = false;
  let follow = offset === 0 && bounds(rangeFromQuery(q)).until == null;
  let buffered = [];

  function filters() {
    const o = {};
    for (const [k, el] of Object.entries(f)) if (el.value.trim()) o[k] = el.value.trim();
    return o;
  }
  function matches(ev, fl) {
    if (fl.decky && ev.decky !== fl.decky) return false;
    if (fl.service && ev.service !== fl.service) return false;
    if (fl.kind && ev.kind !== fl.kind) return false;
    if (fl.src_ip && ev.src_ip !== fl.src_ip) return false;
    if (fl.search && !JSON.stringify(ev.fields).toLowerCase().includes(fl.search.toLowerCase())) return false;
    return true;
  }
  function setButtons() {
    followBtn.textContent = follow ? 'Following' : 'Follow live';
    followBtn.setAttribute('aria-pressed', String(follow));
    pauseBtn.textContent = paused ? `Resume (${buffered.length} new)` : 'Pause';
    pauseBtn.setAttribute('aria-pressed', String(paused));
  }
  async function loadHistogram(fl, b) {
    const end = b.until ?? Date.now();
    let start = b.since;
    if (start == null) {
      // All time: from the oldest matching event.
      const oldest = await get(`/logs${qs({ ...fl, until: iso(b.until), limit: 1, offset: Math.max(0, lastTotal - 1) })}`).catch(() => null);
      start = oldest && oldest.data[0] ? Date.parse(oldest.data[0].ts) : end - 3600000;
    }
    const minutes = bucketMinutes(start, end);
    const list = await get(`/logs/histogram${qs({ ...fl, interval_minutes: minutes, start_time: iso(start), end_time: iso(b.until) })}`);
    if (!ctx.current) return;
    const stepMs = minutes * 60000;
    drawHistogram(hist, {
      series: [{ name: 'events', bins: binsOf(list, stepMs) }], start, end, stepMs, label: 'Matching events over time',
      onSelect: (r) => { range = { key: 'custom', since: r.since, until: r.until }; rangeEl.set(range); offset = 0; follow = false; setButtons(); load(); },
    });
  }
  let lastTotal = 0;
  async function load() {
    errBox.replaceChildren();
    const fl = filters();
    const b = bounds(range);
    history.replaceState(null, '', `/logs${qs({ ...fl, ...rangeToQuery(range), offset: offset || '' })}`);
    try {
      const page = await get(`/logs${qs({ ...fl, since: iso(b.since), until: iso(b.until), limit: LIMIT, offset })}`);
      lastTotal = page.total;
      loadHistogram(fl, b).catch((e) => hist.replaceChildren(errorBox(e)));
      if (!ctx.current) return;
      clear(tbody);
      for (const ev of page.data) tbody.appendChild(eventRow(ev));
      if (!page.data.length) tbody.appendChild(h('tr', { class: 'empty-row' }, h('td', { colspan: 6 }, empty('No events match these filters yet.'))));
      pagerBox.replaceChildren(pager(page.total, LIMIT, offset, (o) => { offset = o; follow = o === 0; setButtons(); load(); }, page.total_exact !== false));
    } catch (e) { errBox.replaceChildren(errorBox(e)); }
  }
  function add(list) {
    for (const ev of list) {
      if (tbody.querySelector(`tr[data-id="${CSS.escape(ev.id)}"]`)) continue;
      const e = tbody.querySelector('.empty-row'); if (e) e.remove();
      const row = eventRow(ev);
      row.classList.add('fresh');
      tbody.insertBefore(row, tbody.firstChild);
    }
    while (tbody.children.length > 500) tbody.lastChild.remove();
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); offset = 0; follow = true; setButtons(); load(); });
  pauseBtn.addEventListener('click', () => { paused = !paused; if (!paused) { add(buffered); buffered = []; } setButtons(); });
  followBtn.addEventListener('click', () => { if (!follow) { follow = true; offset = 0; load(); } else follow = false; setButtons(); });
  ctx.onCleanup(ctx.live.subscribe((msg) => {
    if (msg.type === 'state') { status.textContent = msg.data === 'live' ? '' : `stream ${msg.data}…`; return; }
    if (msg.type !== 'logs' || !follow) return;
    const fl = filters();
    const b = bounds(range);
    if (b.until != null) return; // a closed range gets no live rows
    const mine = msg.data.filter((ev) => matches(ev, fl) && within(b, ev.ts));
    if (!mine.length) return;
    if (paused) { buffered.push(...mine); if (buffered.length > 1000) buffered = buffered.slice(-1000); setButtons(); } else add(mine);
  }));
  setButtons();
  await load();
}
