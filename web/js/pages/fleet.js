import { get, post, put, del, session } from '../api.js';
import { h, clear, card, errorBox, badge, act, confirmAction, dialog, time, empty } from '../ui.js';
import { fileDropForm } from '../filedrop.js';
import { pickService } from '../services.js';
import { watch } from '../feeds.js';

const SAMPLE = `[general]
net = 127.0.212.0/24
mode = loopback

[lab01]
ip = 127.0.212.10
archetype = linux-server
services = ssh, http
`;

export async function render(root, ctx) {
  const listBox = h('div', { id: 'fleet-list' });
  const dropBox = h('div');
  // Decky messages (a scheduled re-roll, a lifecycle change) redraw the
  // list; a burst of them is one redraw.
  let soon = null;
  const live = watch('/deckies/events', (name) => {
    if (name === 'snapshot') return;
    clearTimeout(soon);
    soon = setTimeout(refresh, 300);
  }, ctx);
  root.append(h('h1', null, 'Fleet ', live.dot), live.note, listBox, dropBox);
  if (session.admin) root.append(deployCard(() => refresh()));
  let timer = null;
  ctx.onCleanup(() => { clearTimeout(timer); clearTimeout(soon); });

  async function refresh() {
    clearTimeout(timer);
    let deckies; let lifecycle;
    try {
      [deckies, lifecycle] = await Promise.all([get('/deckies'), get('/deckies/lifecycle')]);
    } catch (e) { listBox.replaceChildren(errorBox(e)); return; }
    if (!ctx.current) return;
    const lc = new Map(lifecycle.map((l) => [l.name, l]));
    const names = new Set(deckies.map((d) => d.name));
    const rows = deckies.map((d) => deckyRow(d, lc.get(d.name)));
    // Accepted but not running yet (or failed): lifecycle only.
    for (const l of lifecycle) if (!names.has(l.name) && l.state !== 'removed') rows.push(h('tr', { dataset: { decky: l.name } }, h('td', null, h('strong', null, l.name)), h('td', { colspan: 4 }, l.error ? h('span', { class: 'error small' }, l.error) : h('span', { class: 'muted' }, 'waiting…')), h('td', null, badge(l.state)), h('td')));
    const tbl = h('div', { class: 'table-wrap' }, h('table', { id: 'deckies' },
      h('thead', null, h('tr', null, ['Decky', 'IP', 'Archetype / OS', 'Hostname', 'Services', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colspan: 7 }, empty('No deckies are running. Deploy a fleet INI below.'))))));
    listBox.replaceChildren(tbl);
    if (lifecycle.some((l) => ['pending', 'deploying', 'tearing_down'].includes(l.state))) timer = setTimeout(refresh, 1000);
  }

  function deckyRow(d, l) {
    const svcs = h('div', { class: 'chips' }, d.services.map((s) => h('span', { class: `chip${s.unavailable ? ' warn' : ''}`, title: s.unavailable || s.ports.join(' ') },
      `${s.name} ${s.ports.join(' ')}`,
      session.admin ? h('button', { type: 'button', class: 'x', 'aria-label': `Remove ${s.name} from ${d.name}`, on: { click: (e) => { const btn = e.currentTarget; confirmAction(`Remove ${s.name} from the running decky ${d.name}?`, `Remove ${s.name}`).then((ok) => { if (ok) act(btn, () => del(`/deckies/${encodeURIComponent(d.name)}/services/${encodeURIComponent(s.name)}`), `${s.name} removed`).then(refresh, () => {}); }); } } }, '×') : null)));
    const actions = session.admin ? h('div', { class: 'actions' },
      h('button', { type: 'button', on: { click: (e) => { const btn = e.currentTarget; confirmAction(`Mutate ${d.name}? It gets a new persona (hostname, OS, banners); attackers see a different machine.`, 'Mutate').then((ok) => { if (ok) act(btn, () => post(`/deckies/${encodeURIComponent(d.name)}/mutate`), `${d.name} mutated`).then(refresh, () => {}); }); } } }, 'Mutate'),
      h('button', { type: 'button', on: { click: async () => { const name = await pickService(d.name, d.services.map((x) => x.name)); if (name) act(null, () => post(`/deckies/${encodeURIComponent(d.name)}/services`, { name }), `${name} added`).then(refresh, () => {}); } } }, '+ Service'),
      h('button', { type: 'button', on: { click: async () => { const r = await dialog(`Automatic mutation for ${d.name}`, [{ name: 'minutes', label: 'Every N minutes (empty = off)', value: d.mutate_interval ?? '' }], 'Save'); if (r) act(null, () => put(`/deckies/${encodeURIComponent(d.name)}/mutate-interval`, { minutes: r.minutes.trim() ? Number(r.minutes) : null }), 'Saved').then(refresh, () => {}); } } }, 'Interval'),
      h('button', { type: 'button', on: { click: () => { dropBox.replaceChildren(card(null, fileDropForm(d.name, null, () => dropBox.replaceChildren()))); dropBox.querySelector('input').focus(); } } }, 'Drop file'),
      h('button', { type: 'button', class: 'danger', on: { click: (e) => { const btn = e.currentTarget; confirmAction(`Tear down ${d.name}?`, 'Tear down').then((ok) => { if (ok) act(btn, () => del(`/deckies/${encodeURIComponent(d.name)}`), `${d.name} torn down`).then(refresh, () => {}); }); } } }, 'Teardown')) : null;
    return h('tr', { dataset: { decky: d.name } },
      h('td', { 'data-label': 'Decky' }, h('strong', null, d.name), d.generation ? h('span', { class: 'muted' }, ` gen ${d.generation}`) : null),
      h('td', { 'data-label': 'IP', class: 'addr' }, d.ip, d.ip6 ? h('div', { class: 'muted small' }, d.ip6) : null),
      h('td', { 'data-label': 'Archetype' }, d.archetype || '—', h('div', { class: 'muted small' }, d.os || '')),
      h('td', { 'data-label': 'Hostname' }, d.hostname,
        d.mutated_at ? h('div', { class: 'muted small', title: 'Last persona re-roll' }, 'mutated ', time(d.mutated_at, true)) : null,
        d.retired_sessions ? h('div', { class: 'muted small', title: 'Sessions opened before the last re-roll, still on the old persona' }, `${d.retired_sessions} session${d.retired_sessions === 1 ? '' : 's'} on the old persona`) : null),
      h('td', { 'data-label': 'Services' }, svcs),
      h('td', { 'data-label': 'State' }, badge(l ? l.state : d.state), l && l.updated_at ? h('div', { class: 'muted small' }, time(l.updated_at, true)) : null, d.mutate_interval ? h('div', { class: 'muted small' }, `mutates every ${d.mutate_interval} min`) : null),
      h('td', null, actions));
  }

  await refresh();
}

// The INI editor: line numbers, errors on their lines, replace option.
function deployCard(onDeployed) {
  const ta = h('textarea', { id: 'ini-editor', spellcheck: 'false', rows: 14, 'aria-label': 'Fleet INI', wrap: 'off' }, SAMPLE);
  const gutter = h('div', { class: 'gutter', 'aria-hidden': 'true' });
  const replace = h('input', { type: 'checkbox', id: 'replace-fleet' });
  const out = h('div', { id: 'deploy-result', 'aria-live': 'polite' });
  const btn = h('button', { type: 'button', class: 'primary', id: 'deploy-btn' }, 'Deploy');
  let bad = new Map();
  function drawGutter() {
    const n = ta.value.split('\n').length;
    clear(gutter);
    for (let i = 1; i <= n; i++) gutter.appendChild(h('div', { class: bad.has(i) ? 'bad' : '', title: bad.get(i) || null }, String(i)));
    gutter.scrollTop = ta.scrollTop;
  }
  ta.addEventListener('input', () => { bad = new Map(); drawGutter(); });
  ta.addEventListener('scroll', () => { gutter.scrollTop = ta.scrollTop; });
  function gotoLine(n) {
    const lines = ta.value.split('\n');
    const start = lines.slice(0, n - 1).reduce((a, l) => a + l.length + 1, 0);
    ta.focus();
    ta.setSelectionRange(start, start + (lines[n - 1] || '').length);
  }
  btn.addEventListener('click', async () => {
    out.replaceChildren();
    bad = new Map();
    btn.disabled = true;
    try {
      const r = await post('/deckies/deploy', { ini_content: ta.value, replace_fleet: replace.checked }, { expectError: true });
      out.replaceChildren(h('div', null, h('p', { class: 'ok' }, `Accepted: ${r.deckies.map((d) => d.name).join(', ') || 'nothing'}`),
        r.warnings.length ? h('ul', { class: 'warn' }, r.warnings.map((w) => h('li', null, w))) : null));
      onDeployed();
    } catch (e) {
      const errs = lineErrors(e);
      for (const x of errs) if (x.line) bad.set(x.line, x.msg);
      out.replaceChildren(h('div', { class: 'error', role: 'alert' }, h('strong', null, `${e.status || ''} ${e.status === 422 || e.status === 400 ? 'The INI has errors' : 'Deploy failed'}`),
        h('ul', { class: 'ini-errors' }, errs.map((x) => h('li', null, x.line ? h('button', { type: 'button', class: 'link', on: { click: () => gotoLine(x.line) } }, `line ${x.line}`) : null, x.line ? ': ' : '', x.msg)))));
    } finally { btn.disabled = false; drawGutter(); }
  });
  drawGutter();
  return card('Deploy from an INI',
    h('p', { class: 'muted' }, 'The same format and validator as ', h('code', null, 'decnet validate'), '. Errors are marked on their lines.'),
    h('div', { class: 'editor' }, gutter, ta),
    h('div', { class: 'row' }, h('label', { class: 'check' }, replace, ' Replace the running fleet (tear down fleet deckies not in this INI)'), h('span', { class: 'spacer' }), btn),
    out);
}

// Validator errors: 422 `[{loc, msg: "line N: …"}]` or 400 "FILE:LINE: message" lines.
export function lineErrors(e) {
  const d = e.detail;
  const out = [];
  if (Array.isArray(d)) {
    for (const x of d) {
      const m = /^line (\d+):\s*(.*)$/s.exec(x.msg || '');
      out.push(m ? { line: Number(m[1]), msg: m[2] } : { line: null, msg: x.msg || JSON.stringify(x) });
    }
  } else if (typeof d === 'string') {
    for (const l of d.split('\n')) {
      if (!l.trim()) continue;
      const m = /^[^:]*:(\d+):\s*(.*)$/.exec(l) || /^line (\d+):\s*(.*)$/.exec(l);
      out.push(m ? { line: Number(m[1]), msg: m[2] } : { line: null, msg: l });
    }
  } else out.push({ line: null, msg: e.message });
  return out;
}
