import { get } from '../api.js';
import { h, card, table, kv, badge, time, errorBox, empty } from '../ui.js';
import { watch } from '../feeds.js';
import { techniquesCard } from './attack.js';

// One campaign: why its identities were grouped, the deckies and shared
// infrastructure, and the identities themselves.
export async function render(root, ctx) {
  const id = ctx.params[0];
  const enc = encodeURIComponent(id);
  const summary = h('div', { id: 'campaign-summary' });
  const ids = h('div', { id: 'campaign-identities' });
  const head = h('div', { class: 'row' }, h('h1', null, `Campaign ${id.slice(0, 8)}`));
  root.append(h('p', null, h('a', { href: '/identities' }, '‹ Identities & campaigns')), head, summary, card('Identities in this campaign', ids),
    techniquesCard({ campaign_id: id }, `campaign-${id.slice(0, 8)}`, 'campaign-techniques'));

  async function load() {
    let c; let list;
    try { [c, list] = await Promise.all([get(`/campaigns/${enc}`), get(`/campaigns/${enc}/identities`)]); } catch (e) { summary.replaceChildren(errorBox(e)); return; }
    if (!ctx.current) return;
    summary.replaceChildren(card(null, kv({
      Campaign: h('code', null, c.id),
      Why: c.reasons.length ? h('ul', { class: 'plain' }, c.reasons.map((r) => h('li', null, r))) : '—',
      Deckies: c.deckies.length ? h('span', null, c.deckies.map((d, i) => [i ? ', ' : '', h('a', { href: `/logs?decky=${encodeURIComponent(d)}` }, d)])) : '—',
      'Shared infrastructure': c.infrastructure.length ? h('ul', { class: 'plain' }, c.infrastructure.map((x) => h('li', null, h('code', { class: 'break' }, x)))) : '—',
      'First seen': time(c.first_seen), 'Last seen': time(c.last_seen),
    })));
    ids.replaceChildren(list.length ? table([
      { key: 'id', label: 'Identity', render: (r) => h('a', { href: `/identities/${r.id}` }, h('code', null, r.id.slice(0, 8))) },
      { key: 'status', label: 'Status', render: (r) => badge(r.status) },
      { key: 'members', label: 'Addresses', render: (r) => h('span', null, r.members.slice(0, 8).map((m, i) => [i ? ', ' : '', h('a', { href: `/attackers/${encodeURIComponent(m)}` }, m)]), r.members.length > 8 ? ` +${r.members.length - 8}` : ''), sort: (r) => r.members.length },
      { key: 'event_count', label: 'Events', cls: 'num' },
      { key: 'last_seen', label: 'Last seen', render: (r) => time(r.last_seen) },
    ], list, { sortKey: 'last_seen', cls: 'cards', onRow: (r) => ctx.navigate(`/identities/${r.id}`) }) : empty('No identities.'));
  }
  await load();
  let pend = null;
  const w = watch('/campaigns/events', (name, d) => {
    if (name !== 'snapshot' && JSON.stringify((d && d.payload) || {}).includes(id)) { clearTimeout(pend); pend = setTimeout(load, 300); }
  }, ctx);
  ctx.onCleanup(() => clearTimeout(pend));
  head.append(w.dot);
  summary.before(w.note);
}
