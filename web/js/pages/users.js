import { get, post, put, del, session } from '../api.js';
import { h, table, errorBox, badge, act, dialog, confirmAction, card, field } from '../ui.js';

export async function render(root) {
  root.append(h('h1', null, 'Users & config'));
  if (!session.admin) { root.append(h('p', null, 'Only admins manage users and configuration.')); return; }
  const cfgBox = h('div');
  const box = h('div', { id: 'users' });
  const add = h('button', { type: 'button', class: 'primary' }, 'Add user…');
  root.append(card('Configuration', cfgBox), card('Users', add, box));
  add.addEventListener('click', async () => {
    const r = await dialog('New user', [
      { name: 'username', label: 'User name', required: true },
      { name: 'password', label: 'Initial password (8+; they must change it)', type: 'password', required: true },
      { name: 'role', label: 'Role', type: 'select', options: ['viewer', 'admin'] },
    ], 'Create');
    if (r) act(add, () => post('/config/users', r), `${r.username} created`).then(load, () => {});
  });
  async function load() {
    let cfg;
    try { cfg = await get('/config'); } catch (e) { box.replaceChildren(errorBox(e)); return; }
    const limit = h('input', { type: 'number', min: 1, max: 1000, value: String(cfg.deployment_limit), id: 'deployment-limit' });
    const save = h('button', { type: 'submit' }, 'Save');
    const f = h('form', { class: 'row' }, field('Most deckies per deployment', limit), save);
    f.addEventListener('submit', (e) => { e.preventDefault(); act(save, () => put('/config/deployment-limit', { deployment_limit: Number(limit.value) }), 'Limit saved').catch(() => {}); });
    cfgBox.replaceChildren(h('div', null, f, cfg.developer_mode ? h('p', null, 'Developer mode is on: ', h('a', { href: '/api/v1/docs', target: '_blank', rel: 'noopener' }, 'API docs')) : null));
    box.replaceChildren(table([
      { key: 'username', label: 'User' },
      { key: 'role', label: 'Role', render: (u) => badge(u.role) },
      { key: 'must_change_password', label: 'Password', render: (u) => (u.must_change_password ? badge('must_change') : 'set') },
      { key: 'x', label: '', sort: false, render: (u) => (u.uuid === session.user.uuid ? h('span', { class: 'muted' }, 'you') : h('div', { class: 'actions' },
        h('button', { type: 'button', on: { click: (e) => act(e.currentTarget, () => put(`/config/users/${u.uuid}/role`, { role: u.role === 'admin' ? 'viewer' : 'admin' }), 'Role changed').then(load, () => {}) } }, u.role === 'admin' ? 'Make viewer' : 'Make admin'),
        h('button', { type: 'button', on: { click: async () => { const r = await dialog(`Reset ${u.username}'s password`, [{ name: 'new_password', label: 'New password (they must change it)', type: 'password', required: true }], 'Reset'); if (r) act(null, () => put(`/config/users/${u.uuid}/reset-password`, r), 'Password reset').then(load, () => {}); } } }, 'Reset password'),
        h('button', { type: 'button', class: 'danger', on: { click: (e) => { const btn = e.currentTarget; confirmAction(`Delete ${u.username}?`, 'Delete user').then((ok) => { if (ok) act(btn, () => del(`/config/users/${u.uuid}`), 'Deleted').then(load, () => {}); }); } } }, 'Delete'))) },
    ], cfg.users || [], {}));
  }
  await load();
}
