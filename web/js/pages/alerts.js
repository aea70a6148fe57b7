import { get, post, put, del, session, qs } from '../api.js';
import { h, card, table, pager, errorBox, time, badge, act, toast, dialog, confirmThen } from '../ui.js';

const LIMIT = 50;

// `{type: first|escalation|digest|resolve|test, …}` in words.
function kindText(r) {
  const k = r.alert.kind;
  if (k.type === 'digest') return `digest (${k.suppressed} suppressed)`;
  if (k.type === 'escalation' && k.from) return `escalation from ${k.from}`;
  return k.type;
}

// A channel's state in one word: off, circuit open/half-open, or ok.
function channelBadge(c) {
  if (!c.enabled) return badge('disabled');
  const circuit = c.state ? c.state.circuit : 'closed';
  if (circuit === 'open') return badge('circuit open', 'error');
  if (circuit === 'half_open') return badge('half-open', 'warn');
  return badge('ok');
}

// `key = value` lines (the INI section's body) → the PUT body.
function parseSection(text) {
  const body = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const i = line.indexOf('=');
    if (i < 1) throw new Error(`expected key = value: ${line}`);
    body[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return body;
}

// What is shown of a channel, as section lines (secrets are write-only:
// left out, the value in force is kept).
function channelLines(c) {
  const lines = [`type = ${c.type}`, `enabled = ${c.enabled}`, `min_severity = ${c.min_severity}`];
  if (c.rules.length) lines.push(`rules = ${c.rules.join(', ')}`);
  if (c.kinds.length) lines.push(`kinds = ${c.kinds.join(', ')}`);
  return lines.join('\n');
}

export async function render(root, ctx) {
  root.append(h('h1', null, 'Alerts'));
  try {
    await get('/alerts/status', { expectError: true });
  } catch (e) {
    if (e.status === 503) {
      root.append(card(null, h('p', { id: 'alerts-off' }, 'This server runs no alerts engine.')));
      return;
    }
    root.append(errorBox(e));
    return;
  }
  const channelsBox = h('div', { id: 'alert-channels' });
  const rulesBox = h('div', { id: 'alert-rules' });
  const historyBox = h('div', { id: 'alert-history' });
  const reload = session.admin ? h('button', { type: 'button', id: 'alerts-reload' }, 'Reload configuration') : null;
  const newChannel = session.admin ? h('button', { type: 'button', id: 'alerts-edit-channel', on: { click: () => editChannel(null) } }, 'Add or edit a channel') : null;
  const newRule = session.admin ? h('button', { type: 'button', id: 'alerts-edit-rule', on: { click: () => editRule(null) } }, 'Add or edit a rule') : null;
  root.append(
    h('p', { class: 'muted' }, 'Alerts on intent (logins, commands, file transfers, canaries, identities, bans…), throttled per rule and source with digests, delivered at least once. Configured in the fleet INI: ', h('code', null, '[alerts]'), ', ', h('code', null, '[alerts.<channel>]'), ', ', h('code', null, '[alerts.rule.<id>]'), ', ', h('code', null, '[siem.<name>]'), '; admins can also add and edit channels and rules here (stored, applied at once, winning over the file for that channel or rule).'),
    card('Channels', h('div', { class: 'row' }, reload, newChannel), channelsBox),
    card('History', historyBox),
    card('Rules', session.admin ? h('div', { class: 'row' }, newRule) : null, rulesBox));
  let offset = 0;

  // The API answers 200 whether or not the platform took the message:
  // `delivered` says which, and a failure is shown with its real error.
  async function testChannel(btn, c) {
    const out = btn.closest('tr').querySelector('.al-result');
    out.replaceChildren(h('span', { class: 'muted' }, 'sending…'));
    let r;
    try { r = await act(btn, () => post(`/alerts/channels/${encodeURIComponent(c.name)}/test`)); } catch (e) { out.replaceChildren(errorBox(e)); return; }
    if (r.delivered) {
      const msg = `Test delivered through ${c.name}${r.status ? ` (${r.status})` : ''} in ${r.latency_ms} ms`;
      out.replaceChildren(h('span', { class: 'ok', role: 'status' }, msg));
      toast(msg);
    } else {
      const msg = `Test through ${c.name} failed: ${r.error || (r.status ? `answered ${r.status}` : 'no answer')}`;
      out.replaceChildren(h('span', { class: 'error small', role: 'alert' }, msg));
      toast(msg, 'error');
    }
    loadChannels();
  }
  // Edits go through the API: validated like the fleet file, stored, applied
  // at once; they win over the file for that channel or rule.
  // One dialog for both: a name and the section's `key = value` lines.
  async function editSection(title, nameField, keys, hint, path, reloadList) {
    const r = await dialog(title, [
      nameField,
      { name: 'keys', label: 'Keys (key = value per line)', type: 'textarea', value: keys, hint },
    ], 'Save');
    if (!r) return;
    const name = r[nameField.name].trim();
    try {
      const body = parseSection(r.keys);
      await act(null, () => put(`${path}/${encodeURIComponent(name)}`, body), `${name} saved`);
    } catch (e) { if (!e.status) toast(e.message, 'error'); return; }
    reloadList();
  }
  function editChannel(c) {
    return editSection(c ? `Channel ${c.name}` : 'Channel', { name: 'name', label: 'Name', required: true, value: c ? c.name : '' },
      c ? channelLines(c) : 'type = webhook\nurl = https://\nsecret = ',
      'As in [alerts.<name>]. Secrets (url, secret, routing_key, password) are never shown: leave them out to keep them.',
      '/alerts/channels', loadChannels);
  }
  function editRule(rule) {
    return editSection(rule ? `Rule ${rule.id}` : 'Rule', { name: 'id', label: 'Id', required: true, value: rule ? rule.id : '' },
      rule ? `enabled = ${rule.enabled}\nseverity = ${rule.severity}` : 'kinds = command\nseverity = high',
      'A custom rule as in [alerts.rule.<id>]; a built-in takes enabled and severity only.',
      '/alerts/rules', loadRules);
  }
  async function loadChannels() {
    try {
      const list = await get('/alerts/channels');
      channelsBox.replaceChildren(table([
        { key: 'name', label: 'Name' },
        { key: 'type', label: 'Type' },
        { key: 'target', label: 'Target', render: (c) => h('code', null, c.target) },
        { key: 'min_severity', label: 'Min severity' },
        { key: 'state', label: 'State', sort: false, render: channelBadge },
        { key: 'sent', label: 'Sent', cls: 'num', render: (c) => String(c.state ? c.state.sent : 0) },
        { key: 'queued', label: 'Queued', cls: 'num', render: (c) => String(c.state ? c.state.queued + c.state.in_flight : 0) },
        { key: 'failed', label: 'Failed', cls: 'num', render: (c) => String(c.state ? c.state.failed : 0) },
        { key: 'last_error', label: 'Last error', sort: false, render: (c) => (c.state && c.state.last_error ? h('span', { class: 'small' }, c.state.last_error) : '—') },
        { key: 'result', label: 'Test', sort: false, render: (c) => h('div', { class: 'actions' },
          session.admin ? h('button', { type: 'button', class: 'al-test', on: { click: (e) => testChannel(e.currentTarget, c) } }, 'Test') : null,
          session.admin ? h('button', { type: 'button', class: 'al-edit', on: { click: () => editChannel(c) } }, 'Edit') : null,
          h('div', { class: 'al-result' })) },
      ], list, { empty: 'No channels configured: alerts go to this history and the bus only.' }));
    } catch (e) { channelsBox.replaceChildren(errorBox(e)); }
  }
  async function loadRules() {
    try {
      const list = await get('/alerts/rules');
      rulesBox.replaceChildren(table([
        { key: 'id', label: 'Rule', render: (r) => h('code', null, r.id) },
        { key: 'origin', label: 'Origin' },
        { key: 'severity', label: 'Severity', render: (r) => badge(r.severity) },
        { key: 'enabled', label: 'State', render: (r) => badge(r.enabled ? 'enabled' : 'disabled') },
        { key: 'description', label: 'Fires on' },
        ...(session.admin ? [{ key: 'actions', label: '', sort: false, render: (r) => h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'al-rule-edit', on: { click: () => editRule(r) } }, 'Edit'),
          r.origin === 'custom' ? h('button', { type: 'button', class: 'danger al-rule-delete', on: { click: (e) => confirmThen(e.currentTarget, `Delete rule ${r.id}?`, 'Delete', () => del(`/alerts/rules/${encodeURIComponent(r.id)}`), `Rule ${r.id} deleted`).then(loadRules, () => {}) } }, 'Delete') : null) }] : []),
      ], list));
    } catch (e) { rulesBox.replaceChildren(errorBox(e)); }
  }
  async function loadHistory() {
    try {
      const p = await get(`/alerts/history${qs({ limit: LIMIT, offset })}`);
      historyBox.replaceChildren(table([
        { key: 'ts', label: 'Time', sort: (r) => r.alert.ts, render: (r) => time(r.alert.ts) },
        { key: 'rule', label: 'Rule', sort: (r) => r.alert.rule, render: (r) => h('code', null, r.alert.rule) },
        { key: 'kind', label: 'Kind', sort: (r) => r.alert.kind.type, render: kindText },
        { key: 'severity', label: 'Severity', sort: (r) => r.alert.severity, render: (r) => badge(r.alert.severity) },
        { key: 'title', label: 'Alert', sort: false, render: (r) => h('span', null, r.alert.title, r.alert.summary ? h('div', { class: 'muted small' }, r.alert.summary) : null) },
        { key: 'deliveries', label: 'Delivery', sort: false, render: (r) => (r.deliveries.length
          ? h('div', null, r.deliveries.map((d) => h('div', { class: 'small' }, `${d.channel}: `, badge(d.state), d.attempts > 1 ? ` ${d.attempts} attempts` : '', d.last_error ? h('span', { class: 'muted' }, ` — ${d.last_error}`) : '')))
          : h('span', { class: 'muted small' }, 'no channel')) },
      ], p.data, { empty: 'No alerts yet.' }),
      pager(p.total, LIMIT, offset, (o) => { offset = o; loadHistory(); }));
    } catch (e) { historyBox.replaceChildren(errorBox(e)); }
  }
  if (reload) reload.addEventListener('click', () => act(reload, () => post('/alerts/reload'), 'Alerts configuration reloaded').then(() => { loadChannels(); loadRules(); }, () => {}));
  await Promise.all([loadChannels(), loadRules(), loadHistory()]);
  // Delivery states move on their own (retries, digests): refresh while shown.
  const timer = setInterval(() => { loadChannels(); loadHistory(); }, 10000);
  ctx.onCleanup(() => clearInterval(timer));
}
