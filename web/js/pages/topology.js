import { get, post, del, session } from '../api.js';
import { watch } from '../feeds.js';
import { h, svg, card, table, errorBox, time, badge, act, dialog, liveDot, confirmAction, toast, empty } from '../ui.js';
import { fileDropForm } from '../filedrop.js';
import { pickService } from '../services.js';

export async function render(root, ctx) {
  const id = ctx.params[0];
  const enc = encodeURIComponent(id);
  let topo;
  try { topo = await get(`/topologies/${enc}`); } catch (e) { root.append(h('p', null, h('a', { href: '/topologies' }, '‹ Topologies')), errorBox(e)); return; }
  if (!ctx.current) return;
  const title = h('h1', null, topo.name);
  const status = h('span', { id: 'topo-status' });
  const streamState = liveDot('connecting');
  const errLine = h('div');
  const actions = h('div', { class: 'actions' });
  const graph = h('div', { class: 'graph', id: 'topo-graph' });
  const side = h('div', { id: 'topo-side' });
  const muts = h('div', { id: 'mutations' });
  const feed = h('ol', { class: 'feed', id: 'topo-feed' });
  root.append(h('p', null, h('a', { href: '/topologies' }, '‹ Topologies')),
    h('div', { class: 'row' }, title, status, streamState, h('span', { class: 'spacer' }), actions), errLine,
    h('div', { class: 'topo-layout' }, card('Graph', graph, h('p', { class: 'muted small' }, 'Click a decky or LAN to act on it. Changes go through the mutation queue and apply live on a deployed topology.')), card('Selection', side)),
    h('div', { class: 'grid2' }, card('Mutation queue', muts), card('Live events', feed)));
  let selected = null;
  // The open file-drop form survives live redraws of the side panel: a
  // reload triggered by a stream event must not discard what the user typed.
  let dropBox = null; let dropFor = null;

  function setStatus(s, error) {
    status.replaceChildren(badge(s));
    status.dataset.status = s;
    errLine.replaceChildren(error ? errorBox(new Error(error)) : '');
  }
  function drawActions() {
    if (!session.admin) return;
    const s = topo.status;
    actions.replaceChildren(...[
      h('button', { type: 'button', on: { click: addLan } }, '+ LAN'),
      h('button', { type: 'button', on: { click: addDecky } }, '+ Decky'),
      ['pending', 'torn_down', 'failed'].includes(s) ? h('button', { type: 'button', class: 'primary', id: 'topo-deploy', on: { click: (e) => act(e.currentTarget, () => post(`/topologies/${enc}/deploy`), 'Deploying…').catch(() => {}) } }, 'Deploy') : null,
      ['active', 'degraded', 'failed', 'deploying'].includes(s) ? h('button', { type: 'button', id: 'topo-teardown', on: { click: (e) => { const btn = e.currentTarget; confirmAction('Tear this topology down?', 'Tear down').then((ok) => { if (ok) act(btn, () => post(`/topologies/${enc}/teardown`), 'Tearing down…').catch(() => {}); }); } } }, 'Teardown') : null,
      ['pending', 'torn_down', 'failed'].includes(s) ? h('button', { type: 'button', class: 'danger', on: { click: (e) => { const btn = e.currentTarget; confirmAction(`Delete topology ${topo.name}?`, 'Delete topology').then((ok) => { if (ok) act(btn, () => del(`/topologies/${enc}`), 'Deleted').then(() => ctx.navigate('/topologies'), () => {}); }); } } }, 'Delete') : null].filter(Boolean));
  }
  const mutate = (op, args, label) => act(null, () => post(`/topologies/${enc}/mutations`, { op, args }), `${label} queued`).then(loadMutations, () => {});
  async function addLan() {
    const r = await dialog('Add a LAN', [{ name: 'name', label: 'Name', required: true }, { name: 'cidr', label: 'CIDR', required: true, value: '127.0.214.0/24' }], 'Queue');
    if (r) mutate('add_lan', { name: r.name.trim(), cidr: r.cidr.trim() }, `add_lan ${r.name}`);
  }
  async function addDecky() {
    const r = await dialog('Add a decky', [
      { name: 'name', label: 'Name', required: true },
      { name: 'ip', label: 'IP (optional)' },
      { name: 'services', label: 'Services (comma separated)', value: 'ssh' },
      { name: 'lan', label: 'Attach to LAN', type: 'select', options: ['', ...topo.lans.map((l) => l.name)] },
    ], 'Queue');
    if (!r) return;
    await mutate('add_decky', { name: r.name.trim(), ip: r.ip.trim() || null, services: r.services.split(',').map((s) => s.trim()).filter(Boolean) }, `add_decky ${r.name}`);
    if (r.lan) mutate('attach', { decky: r.name.trim(), lan: r.lan }, `attach ${r.name}`);
  }

  function drawGraph() {
    // One SVG unit per CSS pixel of the card: text keeps its size on a
    // phone instead of shrinking with a fixed 640-unit drawing.
    const W = Math.min(900, Math.max(300, graph.clientWidth || 640)); const lanY = 40; const dY = 170;
    const lans = topo.lans; const ds = topo.deckies;
    const H = dY + (ds.length > 1 ? 50 : 0) + 50;
    const lx = (i) => (W / (lans.length + 1)) * (i + 1);
    const dx = (i) => (W / (ds.length + 1)) * (i + 1);
    const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Topology graph: ${lans.length} LANs, ${ds.length} deckies` });
    const lanPos = new Map(lans.map((l, i) => [l.name, lx(i)]));
    const lanW = Math.min(140, W / (lans.length + 1) - 8);
    ds.forEach((d, i) => {
      for (const e of topo.edges.filter((x) => x.decky === d.name)) {
        if (lanPos.has(e.lan)) s.appendChild(svg('line', { x1: dx(i), y1: dY + (i % 2) * 50, x2: lanPos.get(e.lan), y2: lanY + 18, class: 'edge' }));
      }
    });
    lans.forEach((l, i) => {
      const g = svg('g', { class: `node lan${selected && selected.lan === l.name ? ' sel' : ''}`, tabindex: '0', role: 'button', 'aria-label': `LAN ${l.name} ${l.cidr}` },
        svg('rect', { x: lx(i) - lanW / 2, y: lanY - 20, width: lanW, height: 38, rx: 8 }),
        svg('text', { x: lx(i), y: lanY - 2, 'text-anchor': 'middle' }, l.name),
        svg('text', { x: lx(i), y: lanY + 12, 'text-anchor': 'middle', class: 'sub' }, l.cidr));
      const pick = () => { selected = { lan: l.name }; drawGraph(); drawSide(); };
      g.addEventListener('click', pick); g.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } });
      s.appendChild(g);
    });
    ds.forEach((d, i) => {
      const y = dY + (i % 2) * 50;
      const g = svg('g', { class: `node decky${selected && selected.decky === d.name ? ' sel' : ''}`, tabindex: '0', role: 'button', 'aria-label': `Decky ${d.name}`, 'data-decky': d.name },
        svg('circle', { cx: dx(i), cy: y, r: 22 }),
        svg('text', { x: dx(i), y: y + 4, 'text-anchor': 'middle' }, d.name.slice(0, 8)),
        svg('text', { x: dx(i), y: y + 38, 'text-anchor': 'middle', class: 'sub' }, d.ip || ''));
      const pick = () => { selected = { decky: d.name }; drawGraph(); drawSide(); };
      g.addEventListener('click', pick); g.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } });
      s.appendChild(g);
    });
    if (!lans.length && !ds.length) graph.replaceChildren(empty('Empty topology: add a LAN and a decky.'));
    else graph.replaceChildren(s);
  }

  function drawSide() {
    if (!selected) { side.replaceChildren(h('p', { class: 'muted' }, 'Nothing selected.')); return; }
    if (selected.lan) {
      const l = topo.lans.find((x) => x.name === selected.lan);
      if (!l) { selected = null; drawSide(); return; }
      const members = topo.edges.filter((e) => e.lan === l.name).map((e) => e.decky);
      side.replaceChildren(h('div', null, h('h3', null, `LAN ${l.name}`), h('p', null, l.cidr), h('p', null, 'Deckies: ', members.join(', ') || '—'),
        session.admin ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', on: { click: () => { confirmAction(`Remove LAN ${l.name}?`, 'Remove LAN').then((ok) => { if (ok) mutate('remove_lan', { name: l.name }, `remove_lan ${l.name}`); }); } } }, 'Remove LAN')) : null));
      return;
    }
    const d = topo.deckies.find((x) => x.name === selected.decky);
    if (!d) { selected = null; drawSide(); return; }
    const attached = topo.edges.filter((e) => e.decky === d.name).map((e) => e.lan);
    if (dropFor !== d.name) { dropBox = h('div'); dropFor = d.name; }
    const box = dropBox;
    side.replaceChildren(h('div', null, h('h3', null, `Decky ${d.name}`),
      h('p', null, d.ip || 'IP from the LAN', d.archetype ? ` · ${d.archetype}` : ''),
      h('h4', null, 'Services'),
      h('div', { class: 'chips' }, d.services.map((sv) => h('span', { class: 'chip' }, sv, session.admin ? h('button', { type: 'button', class: 'x', 'aria-label': `Remove ${sv}`, on: { click: (e) => { const btn = e.currentTarget; confirmAction(`Remove ${sv} from ${d.name}${['active', 'degraded'].includes(topo.status) ? ' (live)' : ''}?`, `Remove ${sv}`).then((ok) => { if (ok) act(btn, () => del(`/topologies/${enc}/deckies/${encodeURIComponent(d.name)}/services/${encodeURIComponent(sv)}`), `${sv} removed`).then(reload, () => {}); }); } } }, '×') : null))),
      h('h4', null, 'LANs'),
      h('div', { class: 'chips' }, topo.lans.map((l) => h('span', { class: `chip${attached.includes(l.name) ? ' on' : ''}` }, l.name,
        session.admin ? h('button', { type: 'button', class: 'x', 'aria-label': `${attached.includes(l.name) ? 'Detach from' : 'Attach to'} ${l.name}`, on: { click: () => mutate(attached.includes(l.name) ? 'detach' : 'attach', { decky: d.name, lan: l.name }, `${attached.includes(l.name) ? 'detach' : 'attach'} ${d.name}`) } }, attached.includes(l.name) ? '−' : '+') : null))),
      session.admin ? h('div', { class: 'actions' },
        h('button', { type: 'button', id: 'svc-add', on: { click: async () => { const name = await pickService(d.name, d.services); if (name) act(null, () => post(`/topologies/${enc}/deckies/${encodeURIComponent(d.name)}/services`, { name }), `${name} added`).then(reload, () => {}); } } }, '+ Service'),
        ['active', 'degraded'].includes(topo.status) ? h('button', { type: 'button', on: { click: () => { box.replaceChildren(fileDropForm(d.name, id, () => box.replaceChildren())); } } }, 'Drop file') : null,
        h('button', { type: 'button', class: 'danger', on: { click: () => { confirmAction(`Remove ${d.name}?`, 'Remove decky').then((ok) => { if (ok) mutate('remove', { name: d.name }, `remove ${d.name}`); }); } } }, 'Remove decky')) : null,
      box));
  }

  async function loadMutations() {
    try {
      const list = await get(`/topologies/${enc}/mutations`);
      muts.replaceChildren(table([
        { key: 'op', label: 'Operation', render: (m) => h('code', null, m.op) },
        { key: 'args', label: 'Arguments', render: (m) => h('code', { class: 'small break' }, JSON.stringify(m.args)) },
        { key: 'status', label: 'Status', render: (m) => h('span', null, badge(m.status), m.error ? h('div', { class: 'error small' }, m.error) : null) },
        { key: 'updated_at', label: 'Updated', render: (m) => time(m.updated_at, true) },
      ], list.slice(-30), { sortKey: 'updated_at', empty: 'No mutations yet.' }));
    } catch (e) { muts.replaceChildren(errorBox(e)); }
  }
  async function reload() {
    try { topo = await get(`/topologies/${enc}`); } catch (e) { errLine.replaceChildren(errorBox(e)); return; }
    if (!ctx.current) return;
    title.textContent = topo.name;
    setStatus(topo.status, topo.error);
    drawActions(); drawGraph(); drawSide();
  }
  let pend = null;
  const soon = (fn) => { clearTimeout(pend); pend = setTimeout(fn, 150); };
  function note(name, d) {
    const p = (d && d.payload) || d || {};
    const text = name === 'decky.lifecycle' ? `${p.decky_name} ${p.state}${p.error ? ` (${p.error})` : ''}` : name.startsWith('decky.') ? `${p.decky_name || ''} ${p.service || p.name || ''}` : name === 'status' ? `${p.previous || '?'} → ${p.status}${p.error ? ` (${p.error})` : ''}` : name.startsWith('mutation') ? `${p.op || ''} ${p.status || ''} ${p.error || ''}` : JSON.stringify(p).slice(0, 200);
    feed.insertBefore(h('li', null, time((d && d.ts) || new Date().toISOString(), true), ' ', badge(name.replace('.', '_')), ' ', text), feed.firstChild);
    while (feed.children.length > 40) feed.lastChild.remove();
  }
  setStatus(topo.status, topo.error);
  drawActions(); drawGraph(); drawSide();
  let resizeT = null;
  const onResize = () => { clearTimeout(resizeT); resizeT = setTimeout(drawGraph, 150); };
  window.addEventListener('resize', onResize);
  ctx.onCleanup(() => { window.removeEventListener('resize', onResize); clearTimeout(resizeT); });
  await loadMutations();
  const feedPath = `/topologies/${enc}/events`;
  const w = watch(feedPath, (name, d) => {
    if (name === 'snapshot') { if (d && d.status && d.status !== topo.status) soon(reload); return; }
    note(name, d);
    if (name === 'status') {
      const p = (d && d.payload) || {};
      topo.status = p.status; setStatus(p.status, p.error); drawActions();
      soon(reload);
    } else if (name === 'deleted') { toast('This topology was deleted'); ctx.navigate('/topologies'); } else { soon(() => { reload(); loadMutations(); }); }
  }, ctx, () => soon(() => { reload(); loadMutations(); }));
  streamState.replaceWith(w.dot);
  errLine.after(w.note);
  ctx.onCleanup(() => clearTimeout(pend));
}
