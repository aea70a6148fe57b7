import { get, qs } from '../api.js';
import { h, table, pager, errorBox, time, card, badge } from '../ui.js';
import { rangeControl, rangeFromQuery, rangeToQuery, bounds, newestFirstWithin } from '../timerange.js';
import { exportButtons, collect } from '../export.js';

const LIMIT = 50;
const WINDOW_ROWS = 1000;

const CSV = [
  ['ip', (r) => r.ip], ['decky', (r) => r.decky], ['service', (r) => r.service], ['principal', (r) => r.principal],
  ['secret_kind', (r) => r.secret_kind], ['secret', (r) => r.secret_printable], ['secret_b64', (r) => r.secret_b64],
  ['secret_sha256', (r) => r.secret_hash], ['worked', (r) => (r.worked ? 'yes' : 'no')], ['attempts', (r) => r.count],
  ['first_seen', (r) => r.first_seen], ['last_seen', (r) => r.last_seen],
];

// The credential rows carry no outcome: the accepted logins are the
// auth_attempt events with `"success":true` in their fields.
const credKey = (ip, decky, service, principal, b64) => [ip, decky, service, principal, b64].join('\u0000');
async function acceptedLogins(filter) {
  const evs = await collect((off, lim) => get(`/logs${qs({ kind: 'auth_attempt', search: '"success":true', src_ip: filter.ip, decky: filter.decky, service: filter.service, limit: lim, offset: off })}`), () => true, undefined, 5000);
  return new Set(evs.map((e) => credKey(e.src_ip, e.decky, e.service, (e.fields || {}).principal ?? (e.fields || {}).username, (e.fields || {}).secret_b64)));
}

export async function render(root, ctx) {
  const f = {
    ip: h('input', { name: 'ip', placeholder: 'attacker IP', 'aria-label': 'Attacker IP', value: ctx.query.get('ip') || '' }),
    decky: h('input', { name: 'decky', placeholder: 'decky', 'aria-label': 'Decky', value: ctx.query.get('decky') || '' }),
    service: h('input', { name: 'service', placeholder: 'service', 'aria-label': 'Service', value: ctx.query.get('service') || '' }),
    principal: h('input', { name: 'principal', placeholder: 'user name', 'aria-label': 'User name', value: ctx.query.get('principal') || '' }),
  };
  const onlyWorked = h('input', { type: 'checkbox', id: 'only-worked', checked: ctx.query.get('worked') === '1' });
  const form = h('form', { class: 'filters', role: 'search' }, Object.values(f), h('label', { class: 'check' }, onlyWorked, ' only those that worked'), h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  let range = rangeFromQuery(ctx.query);
  const rangeEl = rangeControl(range, (r) => { range = r; offset = 0; load(); });
  const box = h('div', { id: 'credentials' });
  const reuse = h('div', { id: 'reuse' });
  const exp = exportButtons('credentials', (progress) => rowsFor(progress, 10000), CSV);
  root.append(h('h1', null, 'Credentials'), form, h('div', { class: 'row' }, h('span', { class: 'muted small' }, 'Last tried:'), rangeEl), exp,
    card('Captured credentials', box), card('Credential reuse (same secret from several places)', reuse));
  let offset = 0; let rOffset = 0;
  form.addEventListener('submit', (e) => { e.preventDefault(); offset = 0; load(); });
  onlyWorked.addEventListener('change', () => { offset = 0; load(); });

  function params() {
    const p = {};
    for (const [k, el] of Object.entries(f)) if (el.value.trim()) p[k] = el.value.trim();
    return p;
  }
  // Rows for the filters, marked with `worked`; time range and "only
  // worked" applied here (the API filters neither yet).
  async function rowsFor(progress, max) {
    const p = params();
    const [rows, ok] = await Promise.all([
      collect((off, lim) => get(`/credentials${qs({ ...p, limit: lim, offset: off })}`), newestFirstWithin(bounds(range)), progress, max),
      acceptedLogins(p),
    ]);
    for (const r of rows) r.worked = ok.has(credKey(r.ip, r.decky, r.service, r.principal, r.secret_b64));
    return onlyWorked.checked ? rows.filter((r) => r.worked) : rows;
  }
  async function load() {
    const p = params();
    history.replaceState(null, '', `/credentials${qs({ ...p, ...rangeToQuery(range), worked: onlyWorked.checked ? '1' : '' })}`);
    const b = bounds(range);
    try {
      let page;
      if (b.since == null && b.until == null && !onlyWorked.checked) {
        const [pg, ok] = await Promise.all([get(`/credentials${qs({ ...p, limit: LIMIT, offset })}`), acceptedLogins(p)]);
        for (const r of pg.data) r.worked = ok.has(credKey(r.ip, r.decky, r.service, r.principal, r.secret_b64));
        page = pg;
      } else {
        const rows = await rowsFor(undefined, WINDOW_ROWS);
        page = { total: rows.length, data: rows.slice(offset, offset + LIMIT) };
      }
      if (!ctx.current) return;
      box.replaceChildren(table([
        { key: 'ip', label: 'From', render: (r) => h('a', { href: `/attackers/${encodeURIComponent(r.ip)}` }, r.ip) },
        { key: 'decky', label: 'Decky' }, { key: 'service', label: 'Service' },
        { key: 'principal', label: 'User' },
        { key: 'secret_printable', label: 'Secret', render: (r) => h('code', null, r.secret_printable ?? '') },
        { key: 'worked', label: 'Worked', render: (r) => (r.worked ? badge('accepted', 'worked') : h('span', { class: 'muted' }, 'no')), sort: (r) => (r.worked ? 1 : 0) },
        { key: 'secret_kind', label: 'Kind' },
        { key: 'count', label: '#', cls: 'num' },
        { key: 'first_seen', label: 'First', render: (r) => time(r.first_seen) },
        { key: 'last_seen', label: 'Last', render: (r) => time(r.last_seen) },
      ], page.data, { sortKey: 'last_seen', cls: 'cards', rowClass: (r) => (r.worked ? 'worked' : ''), empty: 'No credentials match.' }), pager(page.total, LIMIT, offset, (o) => { offset = o; load(); }));
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
      ], page.data, { sortKey: 'attempts', cls: 'cards', empty: 'No secret was used from more than one place yet.' }), pager(page.total, LIMIT, rOffset, (o) => { rOffset = o; loadReuse(); }));
    } catch (e) { reuse.replaceChildren(errorBox(e)); }
  }
  await Promise.all([load(), loadReuse()]);
}
