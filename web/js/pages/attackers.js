import { get, qs } from '../api.js';
import { h, table, pager, errorBox, badge, time } from '../ui.js';

const LIMIT = 50;
// The intel worker's behaviour classes (decnet-intel profile.rs `classify`).
export const BEHAVIORS = [
  ['scanning', 'Scanning (many ports, fast)'],
  ['slow_scan', 'Slow scan (many ports, ≥ 30 s apart)'],
  ['brute_force', 'Brute force (10+ logins)'],
  ['beaconing', 'Beaconing (regular sessions)'],
  ['interactive', 'Interactive (3+ commands)'],
  ['mixed', 'Mixed (several of these)'],
  ['unknown', 'Unknown (no rule matched)'],
];

export async function render(root, ctx) {
  const search = h('input', { type: 'search', placeholder: 'IP or text', value: ctx.query.get('search') || '', 'aria-label': 'Search attackers' });
  const behavior = h('select', { 'aria-label': 'Behaviour', name: 'behavior' }, h('option', { value: '' }, 'any behaviour'), BEHAVIORS.map(([v, label]) => h('option', { value: v }, label)));
  behavior.value = ctx.query.get('behavior') || '';
  const form = h('form', { class: 'filters', role: 'search' }, search, behavior, h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  const box = h('div', { id: 'attackers' });
  root.append(h('h1', null, 'Attackers'), form, box);
  let offset = Number(ctx.query.get('offset') || 0);
  form.addEventListener('submit', (e) => { e.preventDefault(); offset = 0; load(); });
  behavior.addEventListener('change', () => { offset = 0; load(); });

  async function load() {
    const p = { search: search.value.trim(), behavior: behavior.value, offset: offset || '' };
    history.replaceState(null, '', `/attackers${qs(p)}`);
    try {
      const page = await get(`/attackers${qs({ ...p, limit: LIMIT, offset })}`);
      if (!ctx.current) return;
      box.replaceChildren(
        table([
          { key: 'ip', label: 'Address', render: (r) => h('a', { href: `/attackers/${encodeURIComponent(r.ip)}` }, r.ip) },
          { key: 'behavior', label: 'Behaviour', render: (r) => h('span', { title: r.behavior_rule || '' }, badge(r.behavior || 'unknown')) },
          { key: 'event_count', label: 'Events', cls: 'num' },
          { key: 'sessions', label: 'Sessions', cls: 'num' },
          { key: 'credentials_tried', label: 'Creds', cls: 'num' },
          { key: 'commands_run', label: 'Cmds', cls: 'num' },
          { key: 'artifacts', label: 'Files', cls: 'num' },
          { key: 'services', label: 'Services', render: (r) => Object.keys(r.services || {}).join(', '), sort: (r) => Object.keys(r.services || {}).length },
          { key: 'deckies', label: 'Deckies', render: (r) => Object.keys(r.deckies || {}).join(', '), sort: (r) => Object.keys(r.deckies || {}).length },
          { key: 'first_seen', label: 'First seen', render: (r) => time(r.first_seen) },
          { key: 'last_seen', label: 'Last seen', render: (r) => time(r.last_seen) },
        ], page.data, { sortKey: 'last_seen', onRow: (r) => ctx.navigate(`/attackers/${encodeURIComponent(r.ip)}`), empty: 'No attackers yet. Anyone who touches a decky shows up here.' }),
        pager(page.total, LIMIT, offset, (o) => { offset = o; load(); }));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }
  await load();
}
