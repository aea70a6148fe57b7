// ATT&CK: the fleet's technique matrix (tactics × techniques seen, shaded
// by tag count), the attackers and tagged events behind a technique, the
// Navigator layer / STIX / MISP downloads and the rules in use.
import { get, post, qs, session } from '../api.js';
import { h, card, table, time, errorBox, empty, act, toast } from '../ui.js';
import { download } from '../download.js';

// The matrix of `data` (/attack/techniques): one column per tactic that has
// a tagged technique, cells shaded by count; `onPick(technique)` on click.
export function matrix(data, onPick) {
  const byTactic = new Map();
  for (const t of data.techniques) {
    for (const tac of t.tactics) {
      if (!byTactic.has(tac)) byTactic.set(tac, []);
      byTactic.get(tac).push(t);
    }
  }
  const max = Math.max(1, ...data.techniques.map((t) => t.count));
  const cols = data.tactics.filter((t) => byTactic.has(t.shortname)).map((tac) => {
    const cells = byTactic.get(tac.shortname).map((t) => {
      const heat = Math.ceil((t.count / max) * 4);
      const b = h('button', { type: 'button', class: `technique heat${heat}`, title: `${t.technique_id} ${t.name || ''}: ${t.count} tags, ${t.attackers} attackers`, 'data-technique': t.technique_id },
        h('span', { class: 'tid' }, t.technique_id), ' ', h('span', { class: 'tname' }, t.name || ''), h('span', { class: 'count' }, String(t.count)));
      b.addEventListener('click', () => onPick(t));
      return b;
    });
    return h('div', { class: 'tactic', 'data-tactic': tac.shortname }, h('h3', { title: tac.id }, tac.name, tac.domain === 'ics' ? ' (ICS)' : ''), cells);
  });
  if (!cols.length) return empty('No technique tagged yet.');
  return h('div', { class: 'attack-matrix', id: 'attack-matrix' }, cols);
}

// Technique rows for an attacker/identity/campaign page.
export function techniqueTable(list, onPick) {
  return table([
    { key: 'technique_id', label: 'Technique', render: (t) => h('a', { href: `/attack?technique=${encodeURIComponent(t.technique_id)}` }, t.technique_id) },
    { key: 'name', label: 'Name' },
    { key: 'tactics', label: 'Tactics', render: (t) => (t.tactics || []).join(', ') },
    { key: 'count', label: 'Tags' },
    { key: 'max_confidence', label: 'Confidence' },
    { key: 'last_seen', label: 'Last seen', render: (t) => time(t.last_seen) },
  ], list, { sortKey: 'count', empty: 'No technique tagged.', onRow: onPick });
}

// Layer / STIX / MISP buttons for a scope (`scope` is a query object).
export function exportButtons(scope, stem) {
  const q = qs(scope);
  const join = q ? `${q}&` : '?';
  const btn = (label, path, file) => h('button', { type: 'button', on: { click: (e) => act(e.currentTarget, () => download(path, file)) } }, label);
  return h('div', { class: 'row attack-exports' },
    btn('Navigator layer', `/attack/navigator${q}`, `${stem}-layer.json`),
    btn('ICS layer', `/attack/navigator${join}domain=ics`, `${stem}-ics-layer.json`),
    btn('STIX 2.1', `/attack/stix${q}`, `${stem}.stix.json`),
    btn('MISP', `/attack/misp${q}`, `${stem}.misp.json`));
}

// A card with the techniques of a scope ({identity_id} or {campaign_id})
// and its downloads, loaded in the background.
export function techniquesCard(scope, stem, id) {
  const box = h('div', { id }, 'Loading…');
  get(`/attack/techniques${qs(scope)}`)
    .then((d) => box.replaceChildren(techniqueTable(d.techniques), exportButtons(scope, stem)))
    .catch((e) => box.replaceChildren(errorBox(e)));
  return card('ATT&CK techniques', box);
}

export async function render(root, ctx) {
  const box = h('div', { id: 'attack' });
  const detail = h('div', { id: 'attack-detail' });
  const rulesBox = h('div', { id: 'attack-rules' });
  root.append(h('h1', null, 'ATT&CK'),
    h('p', { class: 'muted' }, 'Techniques the tagging rules found in what attackers did, by tactic. Click a technique for its attackers and events. TAXII 2.1 clients read the same objects at ', h('code', null, '/taxii2/'), ' with an API token.'),
    exportButtons({}, 'decnet-fleet'), box, detail, card('Rules in use', rulesBox));
  async function pick(t) {
    const id = t.technique_id;
    detail.replaceChildren(card(`${id} ${t.name || ''}`, h('p', null, 'Loading…')));
    try {
      const [who, tags] = await Promise.all([
        get(`/attack/techniques/${encodeURIComponent(id)}/attackers`),
        get(`/attack/tags${qs({ technique_id: id, limit: 50 })}`),
      ]);
      if (!ctx.current) return;
      detail.replaceChildren(card(`${id} ${t.name || ''}`,
        h('h3', null, 'Attackers'),
        table([
          { key: 'src_ip', label: 'Attacker', render: (a) => h('a', { href: `/attackers/${encodeURIComponent(a.src_ip)}` }, a.src_ip) },
          { key: 'count', label: 'Tags' },
          { key: 'techniques', label: 'Techniques' },
          { key: 'last_seen', label: 'Last seen', render: (a) => time(a.last_seen) },
        ], who.attackers, { cls: 'technique-attackers' }),
        h('h3', null, `Tagged events (${tags.total})`),
        table([
          { key: 'ts', label: 'Time', render: (r) => time(r.ts) },
          { key: 'src_ip', label: 'Attacker', render: (r) => h('a', { href: `/attackers/${encodeURIComponent(r.src_ip)}` }, r.src_ip) },
          { key: 'decky', label: 'Decky' },
          { key: 'rule_id', label: 'Rule' },
          { key: 'confidence', label: 'Conf.' },
          { key: 'event_id', label: 'Event', render: (r) => h('a', { href: `/logs?search=${encodeURIComponent(r.event_id)}` }, r.event_id.slice(0, 8)) },
          { key: 'evidence', label: 'Evidence', sort: false, render: (r) => (r.evidence.matched || []).map(([k, v]) => `${k}: ${v}`).join('; ') || r.evidence.detail || '' },
        ], tags.data, { cls: 'technique-tags' })));
    } catch (e) { detail.replaceChildren(errorBox(e)); }
  }
  try {
    const data = await get('/attack/techniques');
    if (!ctx.current) return;
    box.replaceChildren(h('p', { class: 'muted small' }, `ATT&CK ${data.attack_version} · ${data.techniques.length} techniques seen`), matrix(data, pick));
    const want = ctx.query.get('technique');
    const t = want && data.techniques.find((x) => x.technique_id === want);
    if (t) pick(t);
  } catch (e) { box.replaceChildren(errorBox(e)); }
  async function loadRules() {
    try {
      const r = await get('/attack/rules');
      const problems = h('pre', { class: 'rule-errors', id: 'rule-errors', hidden: true });
      const reload = session.admin ? h('button', { type: 'button', id: 'rules-reload' }, 'Reload rules') : null;
      if (reload) {
        reload.addEventListener('click', () => act(reload, async () => {
          try {
            const out = await post('/attack/rules/reload', {}, { expectError: true });
            toast(`Rules reloaded: ${out.rules}`);
            loadRules();
          } catch (e) {
            // A set that does not validate is refused; the old one stays.
            problems.textContent = ((e.body && e.body.errors) || []).join('\n');
            problems.hidden = !problems.textContent;
            throw e;
          }
        }).catch(() => {}));
      }
      rulesBox.replaceChildren(h('p', { class: 'row' }, h('span', { class: 'muted' }, `${r.rules.length} rules from ${r.source}`), reload), problems,
        table([
          { key: 'id', label: 'Rule' },
          { key: 'name', label: 'Name' },
          { key: 'techniques', label: 'Techniques' },
          { key: 'type', label: 'Type' },
          { key: 'confidence', label: 'Conf.' },
          { key: 'file', label: 'Where', render: (x) => `${x.file}:${x.line}` },
        ], r.rules, { cls: 'rules' }));
    } catch (e) { rulesBox.replaceChildren(errorBox(e)); }
  }
  loadRules();
}
