import { get, post, put, del } from '../api.js';
import { h, table, errorBox, time, badge, act, dialog, confirmDo, card } from '../ui.js';

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
  async function load() {
    try {
      const list = await get('/webhooks');
      box.replaceChildren(table([
        { key: 'name', label: 'Name' }, { key: 'url', label: 'URL', render: (w) => h('code', { class: 'break' }, w.url) },
        { key: 'events', label: 'Subjects', render: (w) => w.events.join(', ') },
        { key: 'enabled', label: 'State', render: (w) => badge(w.enabled ? 'enabled' : 'disabled') },
        { key: 'created_at', label: 'Created', render: (w) => time(w.created_at) },
        { key: 'x', label: '', sort: false, render: (w) => h('div', { class: 'actions' },
          h('button', { type: 'button', on: { click: (e) => act(e.currentTarget, () => post(`/webhooks/${w.id}/test`), 'Test delivery sent').catch(() => {}) } }, 'Test'),
          h('button', { type: 'button', on: { click: async () => { const r = await form(w); if (r) act(null, () => put(`/webhooks/${w.id}`, body(r)), 'Saved').then(load, () => {}); } } }, 'Edit'),
          h('button', { type: 'button', class: 'danger', on: { click: (e) => { if (confirmDo(`Delete webhook ${w.name}?`)) act(e.currentTarget, () => del(`/webhooks/${w.id}`), 'Deleted').then(load, () => {}); } } }, 'Delete')) },
      ], list, { empty: 'No webhooks.' }));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }
  await load();
}
