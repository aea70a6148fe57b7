import { get, post, put, del } from '../api.js';
import { h, table, errorBox, time, badge, act, dialog, confirmAction, card, toast } from '../ui.js';

export async function render(root) {
  const box = h('div', { id: 'webhooks' });
  const add = h('button', { type: 'button', class: 'primary' }, 'Add webhook…');
  root.append(h('h1', null, 'Webhooks'), h('p', { class: 'muted' }, 'Bus events POSTed as JSON to your URL, signed with HMAC-SHA256 (X-DECNET-Signature), retried with backoff.'), card(null, add, box));
  const form = (w) => dialog(w ? `Edit ${w.name}` : 'New webhook', [
    { name: 'name', label: 'Name', required: true, value: w ? w.name : '' },
    { name: 'url', label: 'URL', type: 'url', required: true, value: w ? w.url : 'https://' },
    { name: 'events', label: 'Subjects (comma separated)', value: w ? w.events.join(', ') : 'events.>', hint: 'events.>, identity.*, campaign.>' },
    { name: 'secret', label: 'HMAC secret (16+ chars; empty = keep/generate)' },
    { name: 'enabled', label: 'Enabled', type: 'select', options: w && !w.enabled ? ['false', 'true'] : ['true', 'false'] },
  ], 'Save');
  const body = (r) => ({ name: r.name, url: r.url, events: r.events.split(',').map((s) => s.trim()).filter(Boolean), enabled: r.enabled === 'true', ...(r.secret ? { secret: r.secret } : {}) });
  add.addEventListener('click', async () => { const r = await form(null); if (r) act(add, () => post('/webhooks', body(r)), 'Webhook added').then(load, () => {}); });
  // The API answers 200 whether or not the receiver took the delivery:
  // `delivered` says which, and a failure is shown as one.
  async function testDelivery(btn, w) {
    const out = btn.closest('tr').querySelector('.wh-result');
    out.replaceChildren(h('span', { class: 'muted' }, 'sending…'));
    let r;
    try { r = await act(btn, () => post(`/webhooks/${w.id}/test`)); } catch (e) { out.replaceChildren(errorBox(e)); return; }
    const tries = `${r.attempts} attempt${r.attempts === 1 ? '' : 's'}`;
    if (r.delivered) {
      const msg = `Test delivered to ${w.name}${r.status_code ? ` (HTTP ${r.status_code})` : ''} after ${tries}`;
      out.replaceChildren(h('span', { class: 'ok', role: 'status' }, msg));
      toast(msg);
    } else {
      const why = r.error || (r.status_code ? `the receiver answered HTTP ${r.status_code}` : 'no answer');
      const msg = `Test delivery to ${w.name} failed after ${tries}: ${why}`;
      out.replaceChildren(h('span', { class: 'error small', role: 'alert' }, msg));
      toast(msg, 'error');
    }
  }
  async function load() {
    try {
      const list = await get('/webhooks');
      box.replaceChildren(table([
        { key: 'name', label: 'Name' }, { key: 'url', label: 'URL', render: (w) => h('code', { class: 'break' }, w.url) },
        { key: 'events', label: 'Subjects', render: (w) => w.events.join(', ') },
        { key: 'enabled', label: 'State', render: (w) => badge(w.enabled ? 'enabled' : 'disabled') },
        { key: 'created_at', label: 'Created', render: (w) => time(w.created_at) },
        { key: 'result', label: 'Last test', sort: false, render: () => h('div', { class: 'wh-result' }) },
        { key: 'x', label: '', sort: false, render: (w) => h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'wh-test', on: { click: (e) => testDelivery(e.currentTarget, w) } }, 'Test'),
          h('button', { type: 'button', on: { click: async () => { const r = await form(w); if (r) act(null, () => put(`/webhooks/${w.id}`, body(r)), 'Saved').then(load, () => {}); } } }, 'Edit'),
          h('button', { type: 'button', class: 'danger', on: { click: (e) => { const btn = e.currentTarget; confirmAction(`Delete webhook ${w.name}?`, 'Delete webhook').then((ok) => { if (ok) act(btn, () => del(`/webhooks/${w.id}`), 'Deleted').then(load, () => {}); }); } } }, 'Delete')) },
      ], list, { empty: 'No webhooks.' }));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }
  await load();
}
