import { get, qs } from '../api.js';
import { watch } from '../feeds.js';
import { h, card, table, pager, errorBox, time, badge, liveDot } from '../ui.js';

const LIMIT = 50;

export async function render(root, ctx) {
  const idState = liveDot('connecting');
  const idBox = h('div', { id: 'identities' });
  const campBox = h('div', { id: 'campaigns' });
  const feed = h('ol', { class: 'feed', id: 'identity-feed' });
  const inactive = h('input', { type: 'checkbox', id: 'include-inactive' });
  root.append(h('div', { class: 'row' }, h('h1', null, 'Identities & campaigns'), idState),
    h('p', { class: 'muted' }, 'An identity groups attacker addresses that behave as one actor (shared fingerprints, credentials, timing). Merges and unmerges appear live with their evidence.'),
    card('Identities', h('label', { class: 'check' }, inactive, ' include merged/dissolved'), idBox),
    h('div', { class: 'grid2' }, card('Campaigns', campBox), card('Recent identity changes', feed)));
  let offset = 0; let cOffset = 0;
  inactive.addEventListener('change', () => { offset = 0; loadIds(); });

  async function loadIds() {
    try {
      const page = await get(`/identities${qs({ include_inactive: inactive.checked ? 'true' : '', limit: LIMIT, offset })}`);
      if (!ctx.current) return;
      idBox.replaceChildren(table([
        { key: 'id', label: 'Identity', render: (r) => h('a', { href: `/identities/${r.id}` }, h('code', { class: 'small' }, r.id.slice(0, 8))) },
        { key: 'status', label: 'Status', render: (r) => badge(r.status) },
        { key: 'members', label: 'Addresses', render: (r) => h('span', null, r.members.slice(0, 6).map((m, i) => [i ? ', ' : '', h('a', { href: `/attackers/${encodeURIComponent(m)}` }, m)]), r.members.length > 6 ? ` +${r.members.length - 6}` : ''), sort: (r) => r.members.length },
        { key: 'event_count', label: 'Events', cls: 'num' },
        { key: 'campaign_id', label: 'Campaign', render: (r) => (r.campaign_id ? h('a', { href: `/campaigns/${r.campaign_id}` }, h('code', { class: 'small' }, r.campaign_id.slice(0, 8))) : '—') },
        { key: 'last_seen', label: 'Last seen', render: (r) => time(r.last_seen) },
      ], page.data, { sortKey: 'last_seen', cls: 'cards', onRow: (r) => ctx.navigate(`/identities/${r.id}`), empty: 'No identities yet: they form once the intel worker links attacker addresses.' }), pager(page.total, LIMIT, offset, (o) => { offset = o; loadIds(); }));
    } catch (e) { idBox.replaceChildren(errorBox(e)); }
  }
  async function loadCamps() {
    try {
      const page = await get(`/campaigns${qs({ limit: LIMIT, offset: cOffset })}`);
      if (!ctx.current) return;
      campBox.replaceChildren(table([
        { key: 'id', label: 'Campaign', render: (r) => h('a', { href: `/campaigns/${r.id}` }, h('code', { class: 'small' }, r.id.slice(0, 8))) },
        { key: 'identities', label: 'Identities', cls: 'num', render: (r) => String(r.identities.length), sort: (r) => r.identities.length },
        { key: 'deckies', label: 'Deckies', render: (r) => r.deckies.join(', ') },
        { key: 'reasons', label: 'Why', render: (r) => r.reasons.join('; ') },
        { key: 'last_seen', label: 'Last seen', render: (r) => time(r.last_seen) },
      ], page.data, { cls: 'cards', onRow: (r) => ctx.navigate(`/campaigns/${r.id}`), empty: 'No campaigns yet.' }), pager(page.total, LIMIT, cOffset, (o) => { cOffset = o; loadCamps(); }));
    } catch (e) { campBox.replaceChildren(errorBox(e)); }
  }
  await Promise.all([loadIds(), loadCamps()]);

  let pend = null;
  const reload = (fn) => { clearTimeout(pend); pend = setTimeout(fn, 300); };
  function note(kind, data) {
    const p = (data && data.payload) || {};
    feed.insertBefore(h('li', null, time(data && data.ts, true), ' ', badge(kind), ' ', h('span', { class: 'small' }, JSON.stringify(p).slice(0, 300))), feed.firstChild);
    while (feed.children.length > 30) feed.lastChild.remove();
  }
  const ids = watch('/identities/events', (n, d) => { if (n !== 'snapshot') { note(n, d); reload(loadIds); } }, ctx);
  const camps = watch('/campaigns/events', (n, d) => { if (n !== 'snapshot') { note(`campaign ${n}`, d); reload(loadCamps); } }, ctx);
  idState.replaceWith(ids.dot);
  camps.dot.classList.add('small');
  campBox.before(h('p', { class: 'muted small' }, 'Campaign feed: ', camps.dot));
  idBox.before(ids.note);
  campBox.before(camps.note);
  ctx.onCleanup(() => clearTimeout(pend));
  if (!feed.children.length) feed.appendChild(h('li', { class: 'muted' }, 'Waiting for changes…'));
}
