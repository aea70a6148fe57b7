import { get, qs, session } from '../api.js';
import { h, card, kv, badge, time, table, pager, errorBox, fmtBytes, empty, liveDot, act } from '../ui.js';
import { eventRow, eventTable } from '../events.js';
import { parseCast, player } from '../player.js';
import { download } from '../download.js';
import { banDialog } from './response.js';
import { techniqueTable, exportButtons as attackExports } from './attack.js';
import { place, network } from '../geo.js';
import { reputation } from '../reputation.js';

const LIMIT = 50;

export async function render(root, ctx) {
  const ip = ctx.params[0];
  const enc = encodeURIComponent(ip);
  const liveState = liveDot('connecting');
  const head = h('div', { class: 'row' }, h('h1', null, `Attacker ${ip}`), liveState, h('span', { class: 'spacer' }),
    h('button', { type: 'button', on: { click: (e) => act(e.currentTarget, () => download(`/attackers/${enc}/export?format=stix`, `attacker-${ip.replaceAll(':', '_')}.stix.json`)) } }, "Export STIX"));
  const banBox = h('span', { id: 'attacker-ban', class: 'row' });
  head.insertBefore(banBox, head.lastChild);
  const summary = h('div', { id: 'attacker-summary' });
  const replay = h('div', { id: 'replay' });
  const transcripts = h('div', { id: 'transcripts' });
  const creds = h('div', { id: 'attacker-creds' });
  const cmds = h('div', { id: 'attacker-cmds' });
  const arts = h('div', { id: 'attacker-artifacts' });
  const techniques = h('div', { id: 'attacker-techniques' });
  const { el: tl, tbody } = eventTable('timeline');
  const tlPager = h('div');
  root.append(h('p', null, h('a', { href: '/attackers' }, '‹ All attackers')), head, summary,
    h('div', { class: 'grid2' }, card('Credentials tried', creds), card('Commands', cmds)),
    card('ATT&CK techniques', techniques),
    card('Sessions (SSH/telnet transcripts)', transcripts, replay),
    card('Artifacts', arts),
    card('Timeline', tl, tlPager));

  let a;
  try { a = await get(`/attackers/${enc}`); } catch (e) { summary.replaceChildren(errorBox(e)); return; }
  if (!ctx.current) return;
  drawSummary(summary, a);
  techniques.replaceChildren(techniqueTable(a.techniques || []), attackExports({ ip: a.ip }, `attacker-${a.ip.replaceAll(':', '_')}`));

  // Ban state and the Ban button (when active response is configured).
  // Whether it is configured is asked once per page view; the bans of this
  // address only when it is (re-read after a ban from here).
  async function loadBan() {
    let bans;
    try { bans = await get(`/response/bans${qs({ ip: a.ip, limit: 5 })}`); } catch (e) { banBox.replaceChildren(errorBox(e)); return; }
    const cur = bans.data[0];
    const state = cur ? h('span', { class: 'small', id: 'ban-state' }, badge(cur.dry_run ? 'dry_run' : 'enforced'), ` banned until `, time(cur.expires_at)) : h('span', { class: 'muted small', id: 'ban-state' }, 'not banned');
    const btn = session.admin ? h('button', { type: 'button', class: 'danger', id: 'ban-btn' }, cur ? 'Ban again…' : 'Ban…') : null;
    if (btn) btn.addEventListener('click', () => banDialog(btn, a.ip).then((ok) => { if (ok) loadBan(); }));
    banBox.replaceChildren(state, btn);
  }
  get('/response/status', { expectError: true }).then(loadBan, (e) => banBox.replaceChildren(e.status === 503
    ? h('span', { class: 'muted small', id: 'ban-state', title: 'Add a [response] section to the fleet file to ban from here' }, 'Active response off')
    : errorBox(e)));

  let tlOffset = 0;
  async function loadTimeline() {
    try {
      const p = await get(`/logs${qs({ src_ip: ip, limit: LIMIT, offset: tlOffset })}`);
      tbody.replaceChildren(...p.data.map((ev) => eventRow(ev, { linkAttacker: false })));
      tlPager.replaceChildren(pager(p.total, LIMIT, tlOffset, (o) => { tlOffset = o; loadTimeline(); }));
    } catch (e) { tlPager.replaceChildren(errorBox(e)); }
  }
  const loaders = [
    loadTimeline(),
    get(`/credentials${qs({ ip, limit: 100 })}`).then((p) => creds.replaceChildren(table([
      { key: 'service', label: 'Service' }, { key: 'decky', label: 'Decky' },
      { key: 'principal', label: 'User' }, { key: 'secret_printable', label: 'Secret', render: (r) => h('code', null, r.secret_printable ?? `(${r.secret_kind})`) },
      { key: 'count', label: '#', cls: 'num' }, { key: 'last_seen', label: 'Last', render: (r) => time(r.last_seen) },
    ], p.data, { empty: 'No credentials tried.' }))).catch((e) => creds.replaceChildren(errorBox(e))),
    get(`/attackers/${enc}/commands${qs({ limit: 100 })}`).then((p) => cmds.replaceChildren(p.data.length ? h('ol', { class: 'commands' }, p.data.map((ev) => h('li', null, time(ev.ts, true), ' ', h('span', { class: 'muted' }, `${ev.decky}/${ev.service} `), h('code', null, (ev.fields && (ev.fields.command ?? ev.fields.cmd ?? ev.fields.line)) ?? JSON.stringify(ev.fields))))) : empty('No commands.'))).catch((e) => cmds.replaceChildren(errorBox(e))),
    get(`/attackers/${enc}/artifacts${qs({ limit: 100 })}`).then((p) => arts.replaceChildren(artifactTable(p.data))).catch((e) => arts.replaceChildren(errorBox(e))),
    get(`/attackers/${enc}/transcripts`).then((list) => {
      if (!list.length) { transcripts.replaceChildren(empty('No recorded shell sessions.')); return; }
      transcripts.replaceChildren(h('ul', { class: 'plain' }, list.map((t) => h('li', null,
        h('button', { type: 'button', class: 'replay-btn', on: { click: (e) => openReplay(e.currentTarget, t) } }, 'Replay'), ' ',
        h('strong', null, t.decky), ' ', h('code', { class: 'small' }, t.session_id), ' ', h('span', { class: 'muted' }, fmtBytes(t.size)), ' ',
        h('button', { type: 'button', class: 'link', on: { click: (e) => act(e.currentTarget, () => download(t.url.replace(/^\/api\/v1/, ''), `${t.decky}-${t.session_id}.cast`)) } }, 'download')))));
    }).catch((e) => transcripts.replaceChildren(errorBox(e))),
  ];
  async function openReplay(btn, t) {
    await act(btn, async () => {
      const text = await get(t.url.replace(/^\/api\/v1/, ''), { text: true });
      const p = player(parseCast(text));
      replay.replaceChildren(h('h3', null, `Replay: ${t.decky} ${t.session_id}`), p);
      ctx.onCleanup(() => p.stop());
      p.querySelector('button').click();
    });
  }
  await Promise.all(loaders);

  // Live: this address's events from the shared /stream feed (no stream of
  // its own: the API caps streams per user), the profile re-read after them.
  let pend = null;
  const refreshSummary = () => { clearTimeout(pend); pend = setTimeout(() => get(`/attackers/${enc}`).then((x) => { if (ctx.current) drawSummary(summary, x); }, () => {}), 1500); };
  ctx.onCleanup(() => clearTimeout(pend));
  const setDot = (st) => { liveState.className = `live-dot ${st}`; liveState.textContent = st === 'live' ? 'live' : st; };
  setDot(ctx.live.state.state);
  ctx.onCleanup(ctx.live.subscribe((msg) => {
    if (msg.type === 'state') { setDot(msg.data); return; }
    if (msg.type !== 'logs') return;
    const mine = msg.data.filter((ev) => ev.src_ip === a.ip);
    if (!mine.length) return;
    if (tlOffset === 0) {
      for (const ev of mine) {
        if (tbody.querySelector(`tr[data-id="${CSS.escape(ev.id)}"]`)) continue;
        const r = eventRow(ev, { linkAttacker: false }); r.classList.add('fresh'); tbody.insertBefore(r, tbody.firstChild);
      }
      while (tbody.children.length > LIMIT) tbody.lastChild.remove();
    }
    refreshSummary();
  }));
}

function drawSummary(box, a) {
  box.replaceChildren(h('div', { class: 'grid2' },
    card(null, kv({
      Behaviour: h('span', null, badge(a.behavior || 'unknown'), ' ', h('span', { class: 'muted' }, a.behavior_rule || '')),
      'First seen': time(a.first_seen), 'Last seen': time(a.last_seen),
      Events: a.event_count, Sessions: a.sessions, 'Credentials tried': a.credentials_tried, 'Commands run': a.commands_run, Artifacts: a.artifacts,
      'Time wasted in tarpits': h('span', { id: 'attacker-tarpit' }, a.tarpit_secs ? wasted(a.tarpit_secs) : '—'),
      Identity: a.identity_id ? h('a', { href: `/identities/${a.identity_id}` }, a.identity_id) : '—',
    })),
    card(null, kv({ Country: h('span', { id: 'attacker-country' }, place(a.geo), a.geo && a.geo.city ? h('span', { class: 'muted' }, ` ${a.geo.city}`) : null),
      Network: h('span', { id: 'attacker-network' }, network(a.geo)),
      Services: a.services, Deckies: a.deckies, Kinds: a.kinds, 'Distinct ports': a.distinct_ports,
      Fingerprints: (a.fingerprints || []).map((f) => (typeof f === 'string' ? f : `${f.kind || f.type || ''} ${f.value || JSON.stringify(f)}`)).join('; ') || '—' })),
    ...(reputation(a) ? [h('section', { class: 'card', id: 'attacker-reputation', 'aria-label': 'Reputation' }, h('h2', null, 'Reputation'), kv(reputation(a)))] : [])));
}

export function artifactTable(rows) {
  return table([
    { key: 'kind', label: 'Kind', render: (r) => badge(r.kind) },
    { key: 'value', label: 'Value', render: (r) => h('code', { class: 'break' }, r.value) },
    { key: 'ip', label: 'From', render: (r) => h('a', { href: `/attackers/${encodeURIComponent(r.ip)}` }, r.ip) },
    { key: 'decky', label: 'Decky', render: (r) => `${r.decky}/${r.service}` },
    { key: 'count', label: '#', cls: 'num' },
    { key: 'last_seen', label: 'Last seen', render: (r) => time(r.last_seen) },
    { key: 'details', label: '', sort: false, render: (r) => (isSha(r) ? h('button', { type: 'button', on: { click: (e) => act(e.currentTarget, () => download(`/artifacts/${shaOf(r)}`, (r.details && (r.details.filename || r.details.path || '').split('/').pop()) || `${shaOf(r)}.bin`)) } }, 'Download') : null) },
  ], rows, { empty: 'Nothing captured yet.' });
}

function shaOf(r) { return /^[0-9a-f]{64}$/.test(r.value) ? r.value : (r.details && r.details.sha256); }
function isSha(r) { const s = shaOf(r); return r.kind !== 'hash' && typeof s === 'string' && /^[0-9a-f]{64}$/.test(s); }

// Seconds held in tarpits, as a person reads a duration.
function wasted(secs) {
  const h = Math.floor(secs / 3600); const m = Math.floor((secs % 3600) / 60); const s = secs % 60;
  return h ? `${h} h ${m} min` : m ? `${m} min ${s} s` : `${s} s`;
}
