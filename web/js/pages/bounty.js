import { get, qs } from '../api.js';
import { h, pager, errorBox } from '../ui.js';
import { artifactTable } from './attacker.js';

const LIMIT = 50;
const KINDS = ['', 'file', 'url'];

export async function render(root, ctx) {
  const kind = h('select', { 'aria-label': 'Kind' }, KINDS.map((k) => h('option', { value: k }, k || 'any kind')));
  kind.value = ctx.query.get('kind') || '';
  const ip = h('input', { placeholder: 'attacker IP', 'aria-label': 'Attacker IP' });
  const form = h('form', { class: 'filters', role: 'search' }, kind, ip, h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  const box = h('div', { id: 'bounty' });
  root.append(h('h1', null, 'Bounty'), h('p', { class: 'muted' }, 'Everything attackers left behind: uploaded files (download by sha256), URLs they fetched, hashes and keys.'), form, box);
  let offset = 0;
  form.addEventListener('submit', (e) => { e.preventDefault(); offset = 0; load(); });
  kind.addEventListener('change', () => { offset = 0; load(); });
  async function load() {
    try {
      const page = await get(`/bounty${qs({ kind: kind.value, ip: ip.value.trim(), limit: LIMIT, offset })}`);
      box.replaceChildren(artifactTable(page.data), pager(page.total, LIMIT, offset, (o) => { offset = o; load(); }));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }
  await load();
}
