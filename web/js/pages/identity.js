import { get, qs } from '../api.js';
import { h, card, table, kv, badge, time, errorBox, empty, pager } from '../ui.js';
import { watch } from '../feeds.js';
import { techniquesCard } from './attack.js';
import { place, network } from '../geo.js';

const LIMIT = 50;

// One identity: its evidence (links between addresses) and member attackers.
export async function render(root, ctx) {
  const id = ctx.params[0];
  const enc = encodeURIComponent(id);
  const summary = h('div', { id: 'identity-summary' });
  const links = h('div', { id: 'identity-links' });
  const members = h('div', { id: 'identity-members' });
  const head = h('div', { class: 'row' }, h('h1', null, `Identity ${id.slice(0, 8)}`));
  root.append(h('p', null, h('a', { href: '/identities' }, '‹ Identities & campaigns')), head, summary,
    card('Evidence (links between addresses)', links), card('Member attackers', members),
    techniquesCard({ identity_id: id }, `identity-${id.slice(0, 8)}`, 'identity-techniques'));
  let offset = 0;

  async function load() {
    let r;
    try { r = await get(`/identities/${enc}`); } catch (e) { summary.replaceChildren(errorBox(e)); return; }
    if (!ctx.current) return;
    summary.replaceChildren(card(null, kv({
      Identity: h('code', null, r.id),
      Status: badge(r.status),
      'Merged into': r.merged_into ? h('a', { href: `/identities/${r.merged_into}` }, r.merged_into) : '—',
      Campaign: r.campaign_id ? h('a', { href: `/campaigns/${r.campaign_id}` }, r.campaign_id) : '—',
      Events: r.event_count,
      'First seen': time(r.first_seen), 'Last seen': time(r.last_seen),
      Addresses: h('span', null, r.members.map((m, i) => [i ? ', ' : '', h('a', { href: `/attackers/${encodeURIComponent(m)}` }, m)])),
      'Located in': h('ul', { class: 'plain', id: 'identity-places' }, (r.geo || []).length
        ? r.geo.map((g) => h('li', null, place(g), ' · ', network(g)))
        : h('li', { class: 'muted' }, 'not located')),
    })));
    links.replaceChildren(r.links && r.links.length ? table([
      { key: 'a', label: 'A', render: (l) => h('a', { href: `/attackers/${encodeURIComponent(l.a)}` }, l.a) },
      { key: 'b', label: 'B', render: (l) => h('a', { href: `/attackers/${encodeURIComponent(l.b)}` }, l.b) },
      { key: 'score', label: 'Score', cls: 'num', render: (l) => Number(l.score).toFixed(2) },
      { key: 'reasons', label: 'Reasons', render: (l) => l.reasons.join('; ') },
    ], r.links, { sortKey: 'score', cls: 'cards' }) : empty('No links recorded.'));
  }
  async function loadMembers() {
    try {
      const p = await get(`/identities/${enc}/observations${qs({ limit: LIMIT, offset })}`);
      if (!ctx.current) return;
      members.replaceChildren(table([
        { key: 'ip', label: 'Address', render: (a) => h('a', { href: `/attackers/${encodeURIComponent(a.ip)}` }, a.ip) },
        { key: 'behavior', label: 'Behaviour', render: (a) => badge(a.behavior || 'unknown') },
        { key: 'country', label: 'Country', render: (a) => place(a.geo) },
        { key: 'network', label: 'Network', render: (a) => network(a.geo) },
        { key: 'event_count', label: 'Events', cls: 'num' },
        { key: 'last_seen', label: 'Last seen', render: (a) => time(a.last_seen) },
      ], p.data, { sortKey: 'last_seen', cls: 'cards', empty: 'No member attackers.' }), pager(p.total, LIMIT, offset, (o) => { offset = o; loadMembers(); }));
    } catch (e) { members.replaceChildren(errorBox(e)); }
  }
  await Promise.all([load(), loadMembers()]);
  let pend = null;
  const w = watch('/identities/events', (name, d) => {
    if (name === 'snapshot') return;
    const p = (d && d.payload) || {};
    if (JSON.stringify(p).includes(id)) { clearTimeout(pend); pend = setTimeout(() => { load(); loadMembers(); }, 300); }
  }, ctx);
  ctx.onCleanup(() => clearTimeout(pend));
  head.append(w.dot);
  summary.before(w.note);
}
