import { get, post, put, api, session, qs } from '../api.js';
import { h, card, table, pager, errorBox, time, badge, act, dialog, kv, empty, confirmAction, toast } from '../ui.js';
import { backendBadge } from './overview.js';
import { rangeControl, rangeFromQuery, rangeToQuery, bounds, newestFirstWithin, describe } from '../timerange.js';
import { collect } from '../export.js';

const LIMIT = 50;
// Bans a time window reads before filtering here (the API lists bans newest first, unfiltered by time).
const WINDOW_ROWS = 1000;

// `key = value` lines ⇄ the policy map.
export function policyText(p) { return Object.entries(p).map(([k, v]) => `${k} = ${v}`).join('\n'); }
export function parsePolicy(text) {
  const out = {};
  const bad = [];
  text.split('\n').forEach((line, i) => {
    const l = line.trim();
    if (!l || l.startsWith(';') || l.startsWith('#')) return;
    const eq = l.indexOf('=');
    if (eq < 1) { bad.push(`line ${i + 1}: expected key = value`); return; }
    out[l.slice(0, eq).trim()] = l.slice(eq + 1).trim();
  });
  return { policy: out, bad };
}

export async function render(root, ctx) {
  root.append(h('h1', null, 'Active response'));
  let st;
  try {
    st = await get('/response/status', { expectError: true });
  } catch (e) {
    if (e.status === 503) {
      root.append(card(null, h('p', { id: 'response-off' }, 'Active response is not configured for this fleet.'),
        h('p', { class: 'muted' }, 'Add a ', h('code', null, '[response]'), ' section to the fleet INI (backends such as nftables, fail2ban or CrowdSec, a policy and an allowlist) and restart ', h('code', null, 'decnet serve'), '. Bans, backends and the audit trail then appear here.')));
      return;
    }
    root.append(errorBox(e));
    return;
  }
  const statusBox = h('div');
  const bansBox = h('div', { id: 'bans' });
  const backendsBox = h('div', { id: 'backends' });
  const policyBox = h('div', { id: 'policy' });
  const allowBox = h('div', { id: 'allowlist' });
  const auditBox = h('div', { id: 'audit' });
  const banBtn = session.admin ? h('button', { type: 'button', class: 'primary', id: 'manual-ban' }, 'Ban an address…') : null;
  const unbanAll = session.admin ? h('button', { type: 'button', class: 'danger', id: 'unban-all' }, 'Unban all listed…') : null;
  let range = rangeFromQuery(ctx.query);
  const rangeEl = rangeControl(range, (r) => { range = r; offset = 0; history.replaceState(null, '', `/response${qs(rangeToQuery(r))}`); loadBans(); });
  root.append(statusBox, card('Backends', backendsBox),
    card('Bans', h('div', { class: 'row' }, banBtn, unbanAll, h('span', { class: 'muted small' }, 'Banned:'), rangeEl), bansBox),
    h('div', { class: 'grid2' }, card('Policy', policyBox), card('Allowlist (never banned)', allowBox)),
    card('Audit trail', auditBox));
  let offset = 0;
  let listed = [];

  function drawStatus(s) {
    statusBox.replaceChildren(h('div', { class: 'counters' },
      h('div', { class: 'counter' }, h('div', { class: 'value' }, badge(s.health)), h('div', { class: 'label' }, s.dry_run ? 'dry run (no real bans)' : 'enforcing')),
      h('div', { class: 'counter' }, h('div', { class: 'value' }, String(s.active_bans)), h('div', { class: 'label' }, 'active bans')),
      h('div', { class: 'counter' }, h('div', { class: 'value' }, String(s.dry_run_bans)), h('div', { class: 'label' }, 'dry-run bans')),
      h('div', { class: 'counter' }, h('div', { class: 'value' }, String(s.bouncers)), h('div', { class: 'label' }, 'bouncers'))));
    backendsBox.replaceChildren(table([
      { key: 'backend', label: 'Backend' },
      { key: 'online', label: 'State', render: backendBadge, sort: (b) => (b.pending_recovery ? 2 : b.online ? 1 : 0) },
      { key: 'since', label: 'Since', render: (b) => time(b.since) },
      { key: 'last_probe', label: 'Last probe', render: (b) => time(b.last_probe) },
      { key: 'pending_replay', label: 'Replay queue', cls: 'num' },
      { key: 'detail', label: 'Detail' },
      { key: 'x', label: '', sort: false, render: (b) => (session.admin ? h('button', { type: 'button', on: { click: (e) => act(e.currentTarget, () => post(`/response/backends/${encodeURIComponent(b.backend)}/activate`), `${b.backend} activated`).then(refreshAll, () => {}) } }, 'Activate') : null) },
    ], s.backends, { cls: 'cards', empty: 'No backends configured.' }));
  }
  const unban = (value) => api('DELETE', `/response/bans/${encodeURIComponent(value)}`, { reason: 'manual unban from the dashboard' });
  async function loadBans() {
    try {
      const b = bounds(range);
      let p;
      if (b.since == null && b.until == null) p = await get(`/response/bans${qs({ limit: LIMIT, offset })}`);
      else {
        const rows = await collect((off, lim) => get(`/response/bans${qs({ limit: lim, offset: off })}`), newestFirstWithin(b, 'created_at'), undefined, WINDOW_ROWS);
        p = { total: rows.length, data: rows.slice(offset, offset + LIMIT) };
      }
      listed = p.data;
      if (unbanAll) unbanAll.disabled = !listed.length;
      bansBox.replaceChildren(table([
        { key: 'value', label: 'Address', render: (x) => h('a', { href: `/attackers/${encodeURIComponent(String(x.value).replace(/\/(32|128)$/, ''))}` }, x.value) },
        { key: 'reason', label: 'Reason' }, { key: 'origin', label: 'Origin' }, { key: 'actor', label: 'By' },
        { key: 'offence', label: 'Offence', cls: 'num' },
        { key: 'dry_run', label: 'Mode', render: (x) => (x.dry_run ? badge('dry_run') : badge('enforced')) },
        { key: 'created_at', label: 'Since', render: (x) => time(x.created_at) },
        { key: 'expires_at', label: 'Expires', render: (x) => time(x.expires_at) },
        { key: 'x', label: '', sort: false, render: (x) => (session.admin ? h('button', { type: 'button', class: 'danger', on: { click: (e) => { const btn = e.currentTarget; confirmAction(`Unban ${x.value}?`, 'Unban').then((ok) => { if (ok) act(btn, () => unban(x.value), `${x.value} unbanned`).then(refreshAll, () => {}); }); } } }, 'Unban') : null) },
      ], p.data, { cls: 'cards', empty: `No bans (${describe(range)}).` }), pager(p.total, LIMIT, offset, (o) => { offset = o; loadBans(); }));
    } catch (e) { bansBox.replaceChildren(errorBox(e)); }
  }
  if (unbanAll) {
    unbanAll.addEventListener('click', async () => {
      const list = listed.slice();
      if (!list.length) return;
      if (!(await confirmAction(`Unban all ${list.length} listed address${list.length === 1 ? '' : 'es'}?`, `Unban ${list.length}`))) return;
      await act(unbanAll, async () => {
        let failed = 0;
        for (const x of list) { try { await unban(String(x.value)); } catch { failed++; } }
        toast(failed ? `Unbanned ${list.length - failed}, ${failed} failed` : `Unbanned ${list.length}`, failed ? 'error' : 'ok');
      }).catch(() => {});
      refreshAll();
    });
  }
  // The policy as `key = value` lines (admins edit it; secrets stay masked
  // and are kept when the mask is sent back) and the allowlist one per line.
  async function loadPolicy() {
    let p;
    try { p = await get('/response/policy'); } catch (e) { policyBox.replaceChildren(errorBox(e)); return; }
    const allow = (p.allowlist || '').split(',').map((x) => x.trim()).filter(Boolean);
    if (!session.admin) {
      policyBox.replaceChildren(Object.keys(p).length ? kv(p) : empty('Default policy.'));
      allowBox.replaceChildren(allow.length ? h('ul', { class: 'plain' }, allow.map((a) => h('li', null, h('code', null, a)))) : empty('Only the defaults.'));
      return;
    }
    const ta = h('textarea', { id: 'policy-editor', rows: 10, spellcheck: 'false', 'aria-label': 'Response policy (key = value per line)' }, policyText(Object.fromEntries(Object.entries(p).filter(([k]) => k !== 'allowlist'))));
    const msg = h('div', { 'aria-live': 'polite' });
    const save = h('button', { type: 'button', class: 'primary', id: 'policy-save' }, 'Save policy');
    save.addEventListener('click', () => savePolicy(save, msg, () => {
      const { policy, bad } = parsePolicy(ta.value);
      if (bad.length) throw new Error(bad.join('\n'));
      if (allow.length) policy.allowlist = allow.join(', ');
      return policy;
    }));
    policyBox.replaceChildren(h('p', { class: 'muted small' }, 'One ', h('code', null, 'key = value'), ' per line, the keys of the fleet file’s [response] section (ban_on, duration, escalation, max_duration, dry_run, backends…).'), ta, msg, h('div', { class: 'row end' }, save));
    const al = h('textarea', { id: 'allowlist-editor', rows: 6, spellcheck: 'false', 'aria-label': 'Allowlist, one address or CIDR per line' }, allow.join('\n'));
    const amsg = h('div', { 'aria-live': 'polite' });
    const asave = h('button', { type: 'button', class: 'primary', id: 'allowlist-save' }, 'Save allowlist');
    asave.addEventListener('click', () => savePolicy(asave, amsg, () => {
      const list = al.value.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);
      const next = { ...p };
      if (list.length) next.allowlist = list.join(', '); else delete next.allowlist;
      return next;
    }));
    allowBox.replaceChildren(h('p', { class: 'muted small' }, 'Addresses or CIDRs, one per line. ', p.allowlist_defaults === 'false' ? 'The host’s own addresses are not protected (allowlist_defaults = false).' : 'The host’s own addresses and API clients are always protected too.'), al, amsg, h('div', { class: 'row end' }, asave));
  }
  async function savePolicy(btn, msg, build) {
    msg.replaceChildren();
    let body;
    try { body = build(); } catch (e) { msg.replaceChildren(errorBox(e)); return; }
    try {
      await act(btn, () => put('/response/policy', body, { expectError: true }), 'Policy saved');
      msg.replaceChildren(h('p', { class: 'ok', role: 'status' }, 'Saved.'));
      await loadPolicy();
      refreshAll();
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  }
  async function loadAudit() {
    try {
      const a = await get('/response/audit?limit=50');
      auditBox.replaceChildren(h('ol', { class: 'feed' }, (Array.isArray(a) ? a : a.data || []).map((x) => h('li', null, time(x.ts || x.at || x.time, true), ' ', badge(x.action || x.kind || 'entry'), ' ', h('span', { class: 'small' }, x.actor ? `${x.actor}: ` : '', x.value || x.target || '', ' ', x.reason || x.detail || '')))));
    } catch (e) { auditBox.replaceChildren(errorBox(e)); }
  }
  async function refreshAll() {
    try { drawStatus(await get('/response/status')); } catch (e) { statusBox.replaceChildren(errorBox(e)); }
    await Promise.all([loadBans(), loadAudit()]);
  }
  if (banBtn) banBtn.addEventListener('click', () => banDialog(banBtn, '').then((ok) => { if (ok) refreshAll(); }));
  drawStatus(st);
  await Promise.all([loadBans(), loadPolicy(), loadAudit()]);
  const t = setInterval(() => { if (ctx.current) refreshAll(); }, 10000);
  ctx.onCleanup(() => clearInterval(t));
}

// The manual-ban dialog (response page and attacker page); true once banned.
export async function banDialog(btn, value) {
  const r = await dialog('Ban an address', [
    { name: 'value', label: 'Address or CIDR', required: true, value },
    { name: 'duration', label: 'Duration (e.g. 1h, 24h; empty = policy)' },
    { name: 'reason', label: 'Reason', required: true, value: value ? 'banned from the attacker page' : '' },
  ], 'Ban');
  if (!r) return false;
  try {
    await act(btn, () => post('/response/bans', { value: r.value.trim(), reason: r.reason, ...(r.duration.trim() ? { duration: r.duration.trim() } : {}) }), `${r.value} banned`);
    return true;
  } catch { return false; }
}
