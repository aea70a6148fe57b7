import { get, qs } from '../api.js';
import { h, clear, card, errorBox, badge, time, table } from '../ui.js';
import { eventRow, eventTable } from '../events.js';
import { drawHistogram, binsOf, bucketMinutes } from '../histogram.js';
import { SPANS } from '../timerange.js';
import { worldMap, place } from '../geo.js';

const MAX_ROWS = 25;
const TOP = 5; // services drawn as their own series; the rest is "other"
const CHART_SPANS = SPANS.filter(([k]) => k !== '15m');

export async function render(root, ctx) {
  const counters = h('div', { class: 'counters', id: 'counters' });
  const hist = h('div', { class: 'histogram', id: 'histogram' });
  const chartNote = h('p', { class: 'muted small', id: 'histogram-note' });
  const chips = h('div', { class: 'range', role: 'group', 'aria-label': 'Chart span' });
  const { el: evTable, tbody } = eventTable('latest-events');
  const health = h('div', { id: 'health' });
  const topAttackers = h('div', { id: 'top-attackers' });
  const topCreds = h('div', { id: 'top-credentials' });
  const topServices = h('div', { id: 'top-services' });
  const topDeckies = h('div', { id: 'top-deckies' });
  const origins = h('div', { id: 'origins' });
  root.append(
    h('h1', null, 'Overview'),
    counters,
    h('div', { class: 'grid2' },
      card('Events by service over time', chips, hist, chartNote),
      card('Health', health)),
    h('div', { class: 'grid2' }, card('Top attackers', topAttackers), card('Top credentials', topCreds)),
    h('div', { class: 'grid2' }, card('Top services', topServices), card('Top deckies', topDeckies)),
    card('Attacker origins', origins),
    card('Latest events', evTable));

  let stats = null;
  let running = null;
  function drawStats() {
    if (!stats) return;
    clear(counters);
    const items = [
      ['Total events', stats.total_events, 'total'], ['Last hour', stats.events_last_hour, 'hour'],
      ['Attackers', stats.unique_attackers, 'attackers'], ['Auth attempts', stats.auth_attempts, 'auth'],
      ['Deckies running', running ?? '—', 'running'], ['Deckies attacked', stats.active_deckies, 'attacked'],
    ];
    for (const [label, v, key] of items) counters.appendChild(h('div', { class: 'counter', dataset: { counter: key } }, h('div', { class: 'value' }, String(v ?? 0)), h('div', { class: 'label' }, label)));
  }

  // --- the stacked chart: the top services by events, then "other".
  let span = ctx.query.get('span');
  let auto = !CHART_SPANS.some(([k]) => k === span);
  if (auto) span = '24h';
  let chart = null; // {start, stepMs, series: [{name, bins}], names: Set}
  function drawChips() {
    chips.replaceChildren(...CHART_SPANS.map(([k, label]) => {
      const b = h('button', { type: 'button', class: 'chip-btn', 'data-span': k, 'aria-pressed': String(k === span) }, label);
      b.addEventListener('click', () => { span = k; auto = false; history.replaceState(null, '', `/${qs({ span: k })}`); loadChart(); });
      return b;
    }));
  }
  function redraw() {
    if (!chart) return;
    drawHistogram(hist, { series: chart.series, start: chart.start, end: Date.now(), stepMs: chart.stepMs, label: `Events by service, last ${CHART_SPANS.find((x) => x[0] === span)[1]}` });
  }
  async function loadChart() {
    drawChips();
    const spanMs = CHART_SPANS.find((x) => x[0] === span)[2];
    const start = Date.now() - spanMs;
    const minutes = bucketMinutes(start, Date.now());
    const stepMs = minutes * 60000;
    const base = { interval_minutes: minutes, start_time: new Date(start).toISOString() };
    const total = await get(`/logs/histogram${qs(base)}`);
    // The first view zooms in when everything of the day fits in its last
    // hour: 96 quarter-hour bars with one filled say nothing.
    if (auto && span === '24h' && total.length && Date.parse(total[0].ts) >= Date.now() - 3600000) {
      span = '1h';
      auto = false;
      chartNote.textContent = 'Zoomed to the last hour: all of the last 24 h of events fall in it.';
      return loadChart();
    }
    if (!chartNote.textContent.startsWith('Zoomed') || span !== '1h') chartNote.textContent = '';
    const top = (await serviceTotals(await deckyList())).slice(0, TOP).filter((s) => s.count > 0).map((s) => s.name);
    const per = await Promise.all(top.map((svc) => get(`/logs/histogram${qs({ ...base, service: svc })}`)));
    if (!ctx.current) return;
    const series = top.map((name, i) => ({ name, bins: binsOf(per[i], stepMs) }));
    const other = binsOf(total, stepMs);
    for (const se of series) for (const [t, c] of se.bins) other.set(t, (other.get(t) || 0) - c);
    for (const [t, c] of other) if (c <= 0) other.delete(t);
    if (other.size || !series.length) series.push({ name: series.length ? 'other' : 'events', bins: other });
    chart = { start, stepMs, series, names: new Set(top) };
    redraw();
  }

  // --- per-service / per-decky totals: one exact counter each on the API.
  let svcCache = null;
  let deckyCache = null;
  // Running deckies; null where this API process runs none (503).
  async function deckyList() {
    if (!deckyCache) deckyCache = get('/deckies').catch(() => null);
    return deckyCache;
  }
  async function serviceTotals(deckies) {
    if (svcCache) return svcCache;
    const names = [...new Set((deckies || []).flatMap((d) => d.services.map((s) => s.name)))];
    const rows = await Promise.all(names.map(async (name) => ({ name, count: (await get(`/logs${qs({ service: name, limit: 1 })}`)).total })));
    svcCache = rows.sort((a, b) => b.count - a.count);
    return svcCache;
  }
  async function loadTops() {
    const deckies = await deckyList();
    running = deckies ? deckies.filter((d) => !d.state || d.state === 'running').length : null;
    drawStats();
    const svc = await serviceTotals(deckies);
    topServices.replaceChildren(barList(svc.filter((s) => s.count > 0).slice(0, 8), (s) => h('a', { href: `/logs${qs({ service: s.name })}` }, s.name), 'No events on any service yet.'));
    const dk = deckies ? await Promise.all(deckies.map(async (d) => ({ name: d.name, count: (await get(`/logs${qs({ decky: d.name, limit: 1 })}`)).total }))) : [];
    dk.sort((a, b) => b.count - a.count);
    topDeckies.replaceChildren(barList(dk.filter((d) => d.count > 0).slice(0, 8), (d) => h('a', { href: `/logs${qs({ decky: d.name })}` }, d.name), 'No decky has seen traffic yet.'));
    // Attackers and credentials come newest first; the most active are
    // picked from the latest 500 (the API has no sort by volume yet).
    const atk = await get(`/attackers${qs({ limit: 500 })}`);
    const topA = atk.data.slice().sort((a, b) => b.event_count - a.event_count).slice(0, 8);
    topAttackers.replaceChildren(table([
      { key: 'ip', label: 'Address', render: (r) => h('a', { href: `/attackers/${encodeURIComponent(r.ip)}` }, r.ip) },
      { key: 'behavior', label: 'Behaviour', render: (r) => badge(r.behavior || 'unknown') },
      { key: 'country', label: 'Country', render: (r) => place(r.geo) },
      { key: 'event_count', label: 'Events', cls: 'num' },
      { key: 'last_seen', label: 'Last seen', render: (r) => time(r.last_seen) },
    ], topA, { sortKey: 'event_count', empty: 'No attackers yet.' }));
    const countries = await get('/attackers/countries');
    if (ctx.current) origins.replaceChildren(await worldMap(countries.data, (c) => `/attackers${qs({ country: c })}`));
    const cr = await get(`/credentials${qs({ limit: 500 })}`);
    const pairs = new Map();
    for (const c of cr.data) {
      const k = `${c.principal}\u0000${c.secret_printable}`;
      const p = pairs.get(k) || { principal: c.principal, secret: c.secret_printable, count: 0, ips: new Set() };
      p.count += c.count;
      p.ips.add(c.ip);
      pairs.set(k, p);
    }
    const topC = [...pairs.values()].sort((a, b) => b.count - a.count).slice(0, 8);
    topCreds.replaceChildren(table([
      { key: 'principal', label: 'User', render: (r) => h('code', null, r.principal) },
      { key: 'secret', label: 'Secret', render: (r) => h('code', null, r.secret) },
      { key: 'count', label: 'Attempts', cls: 'num' },
      { key: 'ips', label: 'Addresses', cls: 'num', render: (r) => String(r.ips.size), sort: (r) => r.ips.size },
    ], topC, { sortKey: 'count', empty: 'No credentials captured yet.' }));
  }

  let statsTimer = null;
  let topsTimer = null;
  function bump(list) {
    if (!stats) return;
    stats.total_events += list.length;
    stats.events_last_hour += list.length;
    stats.auth_attempts += list.filter((e) => e.kind === 'auth_attempt').length;
    drawStats();
    if (!statsTimer) statsTimer = setTimeout(() => { statsTimer = null; get('/stats').then((x) => { if (ctx.current) { stats = x; drawStats(); } }, () => {}); }, 3000);
    if (!topsTimer) topsTimer = setTimeout(() => { topsTimer = null; svcCache = null; deckyCache = null; if (ctx.current) loadTops().catch(() => {}); }, 15000);
  }
  ctx.onCleanup(() => { clearTimeout(statsTimer); clearTimeout(topsTimer); });
  function addEvents(list, live) {
    for (const ev of list) {
      if (tbody.querySelector(`tr[data-id="${CSS.escape(ev.id)}"]`)) continue;
      const emptyRow = tbody.querySelector('.empty-row');
      if (emptyRow) emptyRow.remove();
      tbody.insertBefore(eventRow(ev), tbody.firstChild);
      if (live && chart) {
        const key = Math.floor(Date.parse(ev.ts) / chart.stepMs) * chart.stepMs;
        const se = chart.series.find((x) => x.name === (chart.names.has(ev.service) ? ev.service : 'other')) || chart.series[chart.series.length - 1];
        se.bins.set(key, (se.bins.get(key) || 0) + 1);
      }
    }
    while (tbody.children.length > MAX_ROWS) tbody.lastChild.remove();
    if (live) redraw();
  }

  // Initial state from REST (so the page is complete even before the stream speaks).
  try {
    const [st, logs] = await Promise.all([get('/stats'), get(`/logs?limit=${MAX_ROWS}`)]);
    if (!ctx.current) return;
    stats = st;
    drawStats();
    if (!logs.data.length) tbody.appendChild(h('tr', { class: 'empty-row' }, h('td', { colspan: 6, class: 'empty' }, 'No events yet. They appear here live as attackers touch a decky.')));
    addEvents(logs.data.slice().reverse(), false);
  } catch (e) {
    root.insertBefore(errorBox(e), counters);
  }
  loadChart().catch((e) => hist.replaceChildren(errorBox(e)));
  loadTops().catch((e) => topAttackers.replaceChildren(errorBox(e)));
  ctx.onCleanup(ctx.live.subscribe((msg) => {
    if (msg.type === 'stats') { stats = msg.data; drawStats(); } else if (msg.type === 'logs') { addEvents(msg.data, true); bump(msg.data); }
  }));
  loadHealth(health);
  const t = setInterval(() => loadHealth(health), 15000);
  ctx.onCleanup(() => clearInterval(t));
}

// Name + count rows with a proportional bar.
function barList(rows, label, emptyText) {
  if (!rows.length) return h('div', { class: 'empty' }, emptyText);
  const max = Math.max(...rows.map((r) => r.count));
  return h('ol', { class: 'bars' }, rows.map((r) => h('li', null,
    h('span', { class: 'bar-label' }, label(r)),
    h('meter', { min: 0, max, value: r.count, 'aria-label': `${r.name}: ${r.count} events` }),
    h('span', { class: 'num' }, String(r.count)))));
}

async function loadHealth(box) {
  let hl; let workers;
  try {
    [hl, workers] = await Promise.all([get('/health', { expectError: true }).catch((e) => e.body || { status: 'unreachable', components: {} }), get('/workers')]);
  } catch (e) { box.replaceChildren(errorBox(e)); return; }
  const rows = [];
  rows.push(h('p', null, 'API: ', badge(hl.status)));
  const comp = Object.entries(hl.components || {}).map(([name, c]) => h('li', null, badge(c.status), ' ', h('strong', null, name), c.detail ? h('span', { class: 'muted' }, ` — ${c.detail}`) : null));
  rows.push(h('ul', { class: 'plain' }, comp));
  rows.push(h('h3', null, 'Workers'));
  rows.push(h('ul', { class: 'plain' }, workers.map((w) => h('li', null, badge(w.state), ' ', h('strong', null, w.name), ` restarts ${w.restarts}`, w.since ? [' since ', time(w.since)] : null, w.last_error ? h('div', { class: 'error small' }, w.last_error) : null))));
  rows.push(h('h3', null, 'Active response'));
  try {
    const st = await get('/response/status', { expectError: true });
    rows.push(h('p', null, badge(st.health), st.dry_run ? ' dry run' : '', ` · ${st.active_bans} active bans`));
    rows.push(h('ul', { class: 'plain' }, st.backends.map((b) => h('li', null, backendBadge(b), ' ', h('strong', null, b.backend), b.detail ? h('span', { class: 'muted' }, ` — ${b.detail}`) : null))));
  } catch (e) {
    rows.push(h('p', { class: 'muted' }, e.status === 503 ? 'Not configured (add a [response] section to the fleet INI).' : e.message));
  }
  box.replaceChildren(...rows);
}

export function backendBadge(b) {
  if (b.pending_recovery) return badge('pending_recovery');
  if (!b.probed) return badge('pending');
  return badge(b.online ? 'online' : 'offline');
}
