// Canary tokens: what exists, where it is planted, how often it fired;
// admins create, download (the only place secrets appear), revoke, and
// download breadcrumb bundles for real workstations.
import { get, post, del, session } from '../api.js';
import { h, table, errorBox, time, badge, act, dialog, confirmAction, card, empty } from '../ui.js';
import { download } from '../download.js';

// One `decky:/path` per line → [{decky, path}].
function placements(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const i = l.indexOf(':');
    return i < 0 ? { decky: l, path: '' } : { decky: l.slice(0, i).trim(), path: l.slice(i + 1).trim() };
  });
}

export async function render(root, ctx) {
  const box = h('div', { id: 'canary-tokens' });
  const triggers = h('div', { id: 'canary-triggers' });
  const create = session.admin ? h('button', { type: 'button', class: 'primary', id: 'canary-create' }, 'New token…') : null;
  const bundle = session.admin ? h('button', { type: 'button', id: 'canary-bundle' }, 'Breadcrumb bundle (all live tokens)') : null;
  root.append(
    h('h1', null, 'Canary tokens'),
    h('p', { class: 'muted' }, 'Bait nobody legitimate touches: a fetch, a lookup or a login with one of these is an intruder. Triggers appear in Live logs as canary_trigger.'),
    card(null, h('div', { class: 'row' }, create, bundle), box),
    card('Triggers', triggers));
  let kinds = [];
  let tokens = [];
  try { kinds = await get('/canary/kinds'); } catch (e) { box.replaceChildren(errorBox(e)); return; }

  if (create) {
    create.addEventListener('click', async () => {
      const r = await dialog('New canary token', [
        { name: 'kind', label: 'Kind', type: 'select', options: kinds.map((k) => k.name) },
        { name: 'label', label: 'Label', placeholder: 'where it is left, e.g. finance share' },
        { name: 'memo', label: 'Memo', type: 'textarea' },
        { name: 'planted_in', label: 'Plant into (decky:/absolute/path, one per line)', type: 'textarea', hint: 'optional; running deckies get the file at once' },
      ], 'Create');
      if (!r) return;
      const body = { kind: r.kind, label: r.label, memo: r.memo, planted_in: placements(r.planted_in) };
      act(create, () => post('/canary/tokens', body), 'Token created').then(load, () => {});
    });
  }
  if (bundle) {
    bundle.addEventListener('click', () => {
      const ids = tokens.filter((t) => !t.revoked).map((t) => t.id).slice(0, 100);
      act(bundle, () => download('/canary/bundle', 'breadcrumbs.zip', { token_ids: ids }));
    });
  }

  async function showTriggers(t) {
    shown = t;
    triggers.replaceChildren(h('p', { class: 'muted' }, `Loading triggers of ${t.label}…`));
    try {
      const page = await get(`/canary/tokens/${t.id}/triggers?limit=100`);
      triggers.replaceChildren(h('h3', null, `${t.label} (${t.kind})`), table([
        { key: 'ts', label: 'Time', render: (e) => time(e.ts) },
        { key: 'src_ip', label: 'Source' },
        { key: 'decky', label: 'Decky / receiver', render: (e) => `${e.decky} · ${e.service}` },
        { key: 'how', label: 'How', sort: false, render: (e) => (e.fields || {}).trigger || '—' },
        { key: 'what', label: 'Detail', sort: false, render: (e) => { const f = e.fields || {}; return h('code', { class: 'break' }, f.path || f.qname || f.principal || f.matched || ''); } },
        { key: 'agent', label: 'User agent / resolver', sort: false, render: (e) => { const f = e.fields || {}; return f.user_agent || f.resolver || '—'; } },
        { key: 'count', label: 'Nth by source', sort: false, render: (e) => (e.fields || {}).count || '—' },
      ], page.items, { empty: 'Not triggered yet.' }));
    } catch (e) { triggers.replaceChildren(errorBox(e)); }
  }

  async function load() {
    try {
      tokens = await get('/canary/tokens');
      box.replaceChildren(table([
        { key: 'label', label: 'Label' },
        { key: 'kind', label: 'Kind', render: (t) => h('code', null, t.kind) },
        { key: 'planted_in', label: 'Planted in', sort: false, render: (t) => (t.planted_in.length ? t.planted_in.map((p) => h('div', null, h('code', { class: 'break' }, `${p.decky}:${p.path}`))) : (t.call_home ? h('code', { class: 'break' }, t.call_home) : '—')) },
        { key: 'trigger_count', label: 'Triggers', render: (t) => (t.trigger_count ? badge(String(t.trigger_count), 'bad') : '0') },
        { key: 'last_trigger', label: 'Last trigger', render: (t) => (t.last_trigger ? time(t.last_trigger) : '—') },
        { key: 'revoked', label: 'State', render: (t) => badge(t.revoked ? 'revoked' : 'live') },
        { key: 'created_at', label: 'Created', render: (t) => time(t.created_at) },
        { key: 'x', label: '', sort: false, render: (t) => h('div', { class: 'actions' },
          h('button', { type: 'button', on: { click: () => showTriggers(t) } }, 'Triggers'),
          session.admin && !t.revoked ? h('button', { type: 'button', class: 'canary-download', on: { click: (e) => act(e.currentTarget, () => download(`/canary/tokens/${t.id}/download`)) } }, 'Download') : null,
          session.admin && !t.revoked ? h('button', { type: 'button', class: 'danger', on: { click: (e) => { const btn = e.currentTarget; confirmAction(`Revoke ${t.label}? It stops triggering.`, 'Revoke').then((ok) => { if (ok) act(btn, () => del(`/canary/tokens/${t.id}`), 'Revoked').then(load, () => {}); }); } } }, 'Revoke') : null) },
      ], tokens, { empty: 'No tokens yet.' }));
      if (!tokens.length && !triggers.firstChild) triggers.replaceChildren(empty('No tokens, so no triggers.'));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }
  // A trigger on the live stream refreshes the counts (and the open trigger list) at once.
  let shown = null;
  let pending = null;
  ctx.onCleanup(ctx.live.subscribe((msg) => {
    if (msg.type !== 'logs' || !msg.data.some((ev) => ev.kind === 'canary_trigger') || pending) return;
    pending = setTimeout(() => { pending = null; if (!ctx.current) return; load(); if (shown) showTriggers(shown); }, 300);
  }));
  await load();
}
