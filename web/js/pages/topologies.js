import { get, post, session } from '../api.js';
import { h, table, errorBox, time, badge, act, card, field } from '../ui.js';

export async function render(root, ctx) {
  const box = h('div', { id: 'topologies' });
  root.append(h('h1', null, 'Topologies'), h('p', { class: 'muted' }, 'A topology is a designed network: LANs and the deckies attached to them, deployed together and changed live through a mutation queue.'), box);
  if (session.admin) root.append(createCard(ctx));
  try {
    const list = await get('/topologies');
    box.replaceChildren(table([
      { key: 'name', label: 'Name', render: (t) => h('a', { href: `/topologies/${t.id}` }, t.name) },
      { key: 'status', label: 'Status', render: (t) => badge(t.status) },
      { key: 'lans', label: 'LANs', cls: 'num', render: (t) => String(t.lans.length), sort: (t) => t.lans.length },
      { key: 'deckies', label: 'Deckies', cls: 'num', render: (t) => String(t.deckies.length), sort: (t) => t.deckies.length },
      { key: 'version', label: 'Version', cls: 'num' },
      { key: 'updated_at', label: 'Updated', render: (t) => time(t.updated_at || t.created_at) },
    ], list, { onRow: (t) => ctx.navigate(`/topologies/${t.id}`), empty: 'No topologies yet. Create one below.' }));
  } catch (e) { box.replaceChildren(errorBox(e)); }
}

function createCard(ctx) {
  const name = h('input', { id: 'topo-name', required: true, value: 'lab', maxlength: 64 });
  const lan = h('input', { id: 'topo-lan', value: 'dmz' });
  const cidr = h('input', { id: 'topo-cidr', value: '127.0.213.0/24' });
  const decky = h('input', { id: 'topo-decky', value: 'gw01' });
  const ip = h('input', { id: 'topo-ip', value: '127.0.213.10' });
  const svcs = h('input', { id: 'topo-services', value: 'ssh, http' });
  const msg = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'topo-create' }, 'Create');
  const form = h('form', { class: 'stack' },
    h('div', { class: 'grid3' }, field('Name', name), field('First LAN', lan), field('LAN CIDR', cidr), field('First decky', decky), field('Decky IP', ip), field('Services', svcs, 'comma separated')),
    msg, h('div', { class: 'row end' }, btn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.replaceChildren();
    const body = { name: name.value.trim(), lans: [], deckies: [], edges: [] };
    if (lan.value.trim()) body.lans.push({ name: lan.value.trim(), cidr: cidr.value.trim() });
    if (decky.value.trim()) {
      body.deckies.push({ name: decky.value.trim(), ip: ip.value.trim() || null, services: svcs.value.split(',').map((s) => s.trim()).filter(Boolean) });
      if (lan.value.trim()) body.edges.push({ decky: decky.value.trim(), lan: lan.value.trim() });
    }
    try {
      const t = await act(btn, () => post('/topologies', body));
      ctx.navigate(`/topologies/${t.id}`);
    } catch (err) { msg.replaceChildren(errorBox(err)); }
  });
  return card('New topology', form);
}
