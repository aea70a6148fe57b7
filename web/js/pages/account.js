import { api, login, loadUser, session } from '../api.js';
import { h, card, field, errorBox, toast } from '../ui.js';

// The signed-in user's own account: role and a password change.
export async function render(root) {
  const u = session.user || {};
  const old = h('input', { type: 'password', id: 'old-password', autocomplete: 'current-password', required: true });
  const p1 = h('input', { type: 'password', id: 'account-new-password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 128 });
  const p2 = h('input', { type: 'password', id: 'account-new-password2', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 128 });
  const msg = h('div', { 'aria-live': 'polite' });
  const btn = h('button', { type: 'submit', class: 'primary', id: 'account-change' }, 'Change password');
  const form = h('form', { class: 'stack narrow', id: 'account-form' },
    field('Current password', old), field('New password (8–128 characters)', p1), field('Repeat the new password', p2), msg, h('div', { class: 'row end' }, btn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.replaceChildren();
    if (p1.value !== p2.value) { msg.replaceChildren(errorBox(new Error('The two new passwords differ.'))); p2.focus(); return; }
    btn.disabled = true;
    try {
      await api('POST', '/auth/change-password', { old_password: old.value, new_password: p1.value }, { expectError: true, noLogout: true });
      // The change revokes every token of this user: sign in again with the new password.
      session.token = null;
      await login(u.username, p1.value);
      await loadUser();
      form.reset();
      msg.replaceChildren(h('p', { class: 'ok', role: 'status', id: 'account-changed' }, 'Password changed. Other sessions of this account were signed out.'));
      toast('Password changed');
    } catch (err) {
      msg.replaceChildren(errorBox(err));
      old.focus();
    } finally { btn.disabled = false; }
  });
  root.append(h('h1', null, 'Your account'),
    card(null, h('p', null, 'Signed in as ', h('strong', { id: 'account-name' }, u.username || '?'), ` (${u.role || '?'}).`),
      session.admin ? h('p', { class: 'muted' }, 'Other users’ passwords are reset on ', h('a', { href: '/users' }, 'Users & config'), '.') : null),
    card('Change your password', form));
}
