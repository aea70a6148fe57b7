import { get, qs } from '../api.js';
import { h, table, pager, errorBox, time, card } from '../ui.js';

const LIMIT = 50;

export async function render(root, ctx) {
  const f = {
    ip: h('input', { placeholder: 'attacker IP', 'aria-label': 'Attacker IP', value: ctx.query.get('ip') || '' }),
    decky: h('input', { placeholder: 'decky', 'aria-label': 'Decky' }),
    service: h('input', { placeholder: 'service', 'aria-label': 'Service' }),
    principal: h('input', { placeholder: 'user name', 'aria-label': 'User name' }),
  };
  const form = h('form', { class: 'filters', role: 'search' }, Object.values(f), h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  const box = h('div', { id: 'credentials' });
  const reuse = h('div', { id: 'reuse' });
  root.append(h('h1', null, 'Credentials'), form, card('Captured credentials', box), card('Credential reuse (same secret from several places)', reuse));
  let offset = 0; let rOffset = 0;
  form.addEventListener('submit', (e) => { e.preventDefault(); offset = 0; load(); });
  async function load() {
    const p = {};
    for (const [k, el] of Object.entries(f)) if (el.value.trim()) p[k] = el.value.trim();
    try {
      const page = await get(`/credentials${qs({ ...p, limit: LIMIT, offset })}`);
      box.replaceChildren(table([
        { key: 'ip', label: 'From', render: (r) => h('a', { href: `/attackers/${encodeURIComponent(r.ip)}` }, r.ip) },
        { key: 'decky', label: 'Decky' }, { key: 'service', label: 'Service' },
        { key: 'principal', label: 'User' },
        { key: 'secret_printable', label: 'Secret', render: (r) => h('code', null, r.secret_printable ?? '') },
        { key: 'secret_kind', label: 'Kind' },
        { key: 'count', label: '#', cls: 'num' },
        { key: 'first_seen', label: 'First', render: (r) => time(r.first_seen) },
        { key: 'last_seen', label: 'Last', render: (r) => time(r.last_seen) },
      ], page.data, { sortKey: 'last_seen', empty: 'No credentials captured yet.' }), pager(page.total, LIMIT, offset, (o) => { offset = o; load(); }));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }
  async function loadReuse() {
    try {
      const page = await get(`/credential-reuse${qs({ limit: LIMIT, offset: rOffset })}`);
      reuse.replaceChildren(table([
        { key: 'secret_printable', label: 'Secret', render: (r) => h('code', null, r.secret_printable) },
        { key: 'secret_kind', label: 'Kind' },
        { key: 'ips', label: 'Addresses', cls: 'num' }, { key: 'deckies', label: 'Deckies', cls: 'num' }, { key: 'services', label: 'Services', cls: 'num' },
        { key: 'attempts', label: 'Attempts', cls: 'num' },
        { key: 'last_seen', label: 'Last', render: (r) => time(r.last_seen) },
      ], page.data, { sortKey: 'attempts', empty: 'No secret was used from more than one place yet.' }), pager(page.total, LIMIT, rOffset, (o) => { rOffset = o; loadReuse(); }));
    } catch (e) { reuse.replaceChildren(errorBox(e)); }
  }
  await Promise.all([load(), loadReuse()]);
}
