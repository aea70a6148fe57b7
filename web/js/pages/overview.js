import { get } from '../api.js';
import { h, svg, clear, card, errorBox, badge, time } from '../ui.js';
import { eventRow, eventTable } from '../events.js';

const MAX_ROWS = 25;

export async function render(root, ctx) {
  const counters = h('div', { class: 'counters', id: 'counters' });
  const hist = h('div', { class: 'histogram', id: 'histogram' });
  const { el: evTable, tbody } = eventTable('latest-events');
  const health = h('div', { id: 'health' });
  root.append(
    h('h1', null, 'Overview'),
    counters,
    h('div', { class: 'grid2' },
      card('Events (last 24 h, per 15 min)', hist),
      card('Health', health)),
    card('Latest events', evTable));

  function drawStats(s) {
    if (!s) return;
    current = { ...s };
    clear(counters);
    const items = [['Total events', s.total_events], ['Last hour', s.events_last_hour], ['Attackers', s.unique_attackers], ['Auth attempts', s.auth_attempts], ['Active deckies', s.active_deckies]];
    for (const [label, v] of items) counters.appendChild(h('div', { class: 'counter' }, h('div', { class: 'value' }, String(v ?? 0)), h('div', { class: 'label' }, label)));
  }

  const bins = new Map(); // ms → count, 15-minute buckets over 24 h
  function drawHist() {
    clear(hist);
    const now = Date.now();
    const step = 15 * 60 * 1000;
    const end = Math.floor(now / step) * step;
    const start = end - 95 * step;
    const vals = [];
    for (let t = start; t <= end; t += step) vals.push([t, bins.get(t) || 0]);
    const max = Math.max(1, ...vals.map((v) => v[1]));
    const W = 480; const H = 120; const L = 28;
    const bw = (W - L) / vals.length;
    const s = svg('svg', { viewBox: `0 0 ${W} ${H + 16}`, role: 'img', 'aria-label': `Events per 15 minutes over 24 hours; peak ${max}` });
    s.appendChild(svg('line', { x1: L, y1: H, x2: W, y2: H, class: 'axis-line' }));
    s.appendChild(svg('text', { x: L - 4, y: 9, class: 'axis', 'text-anchor': 'end' }, String(max)));
    s.appendChild(svg('text', { x: L - 4, y: H, class: 'axis', 'text-anchor': 'end' }, '0'));
    vals.forEach(([t, c], i) => {
      if (!c) return;
      const bh = Math.max(2, Math.round((c / max) * (H - 4)));
      const r = svg('rect', { x: (L + i * bw + 0.5).toFixed(1), y: H - bh, width: Math.max(1, bw - 1).toFixed(1), height: bh, class: 'bar' });
      r.appendChild(svg('title', null, `${new Date(t).toLocaleString()}: ${c}`));
      s.appendChild(r);
    });
    for (let i = 0; i < vals.length; i += 24) s.appendChild(svg('text', { x: L + i * bw, y: H + 13, class: 'axis' }, new Date(vals[i][0]).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })));
    s.appendChild(svg('text', { x: W, y: H + 13, class: 'axis', 'text-anchor': 'end' }, 'now'));
    hist.appendChild(s);
  }
  function setHistogram(list) {
    bins.clear();
    for (const b of list || []) {
      const t = Date.parse(b.ts);
      const key = Math.floor(t / (15 * 60 * 1000)) * 15 * 60 * 1000;
      bins.set(key, (bins.get(key) || 0) + b.count);
    }
    drawHist();
  }
  let statsTimer = null;
  let current = null;
  function bump(list) {
    if (!current) return;
    current.total_events += list.length;
    current.events_last_hour += list.length;
    current.auth_attempts += list.filter((e) => e.kind === 'auth_attempt').length;
    drawStats(current);
    if (!statsTimer) statsTimer = setTimeout(() => { statsTimer = null; get('/stats').then((x) => { if (ctx.current) drawStats(x); }, () => {}); }, 3000);
  }
  ctx.onCleanup(() => clearTimeout(statsTimer));
  function addEvents(list) {
    const step = 15 * 60 * 1000;
    for (const ev of list) {
      if (tbody.querySelector(`tr[data-id="${CSS.escape(ev.id)}"]`)) continue;
      const empty = tbody.querySelector('.empty-row');
      if (empty) empty.remove();
      tbody.insertBefore(eventRow(ev), tbody.firstChild);
      const key = Math.floor(Date.parse(ev.ts) / step) * step;
      bins.set(key, (bins.get(key) || 0) + 1);
    }
    while (tbody.children.length > MAX_ROWS) tbody.lastChild.remove();
    drawHist();
  }

  // Initial state from REST (so the page is complete even before the stream speaks).
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  try {
    const [stats, histo, logs] = await Promise.all([
      get('/stats'),
      get(`/logs/histogram?interval_minutes=15&start_time=${encodeURIComponent(since)}`),
      get(`/logs?limit=${MAX_ROWS}`),
    ]);
    if (!ctx.current) return;
    drawStats(stats);
    setHistogram(histo);
    if (!logs.data.length) tbody.appendChild(h('tr', { class: 'empty-row' }, h('td', { colspan: 6, class: 'empty' }, 'No events yet. They appear here live as attackers touch a decky.')));
    addEvents(logs.data.slice().reverse());
  } catch (e) {
    root.insertBefore(errorBox(e), counters);
  }
  ctx.onCleanup(ctx.live.subscribe((msg) => {
    if (msg.type === 'stats') drawStats(msg.data);
    else if (msg.type === 'logs') { addEvents(msg.data); bump(msg.data); }
    // The stream's histogram is at its own bucket size; ours is rebuilt from events.
  }));
  loadHealth(health);
  const t = setInterval(() => loadHealth(health), 15000);
  ctx.onCleanup(() => clearInterval(t));
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
