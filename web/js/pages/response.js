import { get, post, api, session, qs } from '../api.js';
import { h, card, table, pager, errorBox, time, badge, act, dialog, kv, empty, confirmAction } from '../ui.js';
import { backendBadge } from './overview.js';

const LIMIT = 50;

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
  const auditBox = h('div', { id: 'audit' });
  const banBtn = session.admin ? h('button', { type: 'button', class: 'primary', id: 'manual-ban' }, 'Ban an address…') : null;
  root.append(statusBox, card('Backends', backendsBox), card('Bans', banBtn, bansBox), h('div', { class: 'grid2' }, card('Policy and allowlist', policyBox), card('Audit trail', auditBox)));
  let offset = 0;

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
    ], s.backends, { empty: 'No backends configured.' }));
  }
  async function loadBans() {
    try {
      const p = await get(`/response/bans${qs({ limit: LIMIT, offset })}`);
      bansBox.replaceChildren(table([
        { key: 'value', label: 'Address', render: (b) => h('a', { href: `/attackers/${encodeURIComponent(String(b.value).replace(/\/(32|128)$/, ''))}` }, b.value) },
        { key: 'reason', label: 'Reason' }, { key: 'origin', label: 'Origin' }, { key: 'actor', label: 'By' },
        { key: 'offence', label: 'Offence', cls: 'num' },
        { key: 'dry_run', label: 'Mode', render: (b) => (b.dry_run ? badge('dry_run') : badge('enforced')) },
        { key: 'created_at', label: 'Since', render: (b) => time(b.created_at) },
        { key: 'expires_at', label: 'Expires', render: (b) => time(b.expires_at) },
        { key: 'x', label: '', sort: false, render: (b) => (session.admin ? h('button', { type: 'button', class: 'danger', on: { click: (e) => { const btn = e.currentTarget; confirmAction(`Unban ${b.value}?`, 'Unban').then((ok) => { if (ok) act(btn, () => api('DELETE', `/response/bans/${encodeURIComponent(b.value)}`, { reason: 'manual unban from the dashboard' }), `${b.value} unbanned`).then(refreshAll, () => {}); }); } } }, 'Unban') : null) },
      ], p.data, { empty: 'No active bans.' }), pager(p.total, LIMIT, offset, (o) => { offset = o; loadBans(); }));
    } catch (e) { bansBox.replaceChildren(errorBox(e)); }
  }
  async function loadPolicy() {
    try {
      const p = await get('/response/policy');
      policyBox.replaceChildren(Object.keys(p).length ? kv(p) : empty('Default policy.'));
    } catch (e) { policyBox.replaceChildren(errorBox(e)); }
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
  if (banBtn) {
    banBtn.addEventListener('click', async () => {
      const r = await dialog('Ban an address', [
        { name: 'value', label: 'Address or CIDR', required: true },
        { name: 'duration', label: 'Duration (e.g. 1h, 24h; empty = policy)' },
        { name: 'reason', label: 'Reason', required: true },
      ], 'Ban');
      if (r) act(banBtn, () => post('/response/bans', { value: r.value.trim(), reason: r.reason, ...(r.duration.trim() ? { duration: r.duration.trim() } : {}) }), `${r.value} banned`).then(refreshAll, () => {});
    });
  }
  drawStatus(st);
  await Promise.all([loadBans(), loadPolicy(), loadAudit()]);
  const t = setInterval(() => { if (ctx.current) refreshAll(); }, 10000);
  ctx.onCleanup(() => clearInterval(t));
}
