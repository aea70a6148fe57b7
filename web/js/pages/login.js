import { api, login, session, loadUser, waitText } from '../api.js';
import { h, errorBox } from '../ui.js';
import { navigate } from '../app.js';

export function render(root, { next }) {
  const params = new URLSearchParams(location.search);
  const box = h('div', { class: 'login' });
  root.appendChild(box);
  showLogin(box, next, params.get('expired') ? 'Your session expired; log in again.' : null);
}

function safeNext(next) {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/';
}

function showLogin(box, next, note) {
  const user = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, value: 'admin' });
  const pass = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'login-submit' }, 'Log in');
  const form = h('form', { class: 'stack', id: 'login-form' },
    h('h1', null, 'decnet'),
    note ? h('p', { class: 'notice' }, note) : null,
    h('div', { class: 'field' }, h('label', { for: 'username' }, 'Username'), user),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), pass),
    msg, btn);
  let lockedUntil = 0;
  let tick = null;
  // The limiter's Retry-After as a countdown; the button waits with it.
  function lockout(seconds, text) {
    lockedUntil = Date.now() + seconds * 1000;
    const line = h('span');
    msg.replaceChildren(h('div', { class: 'error', role: 'alert', id: 'login-lockout' }, `${text} `, line));
    const draw = () => {
      const left = Math.ceil((lockedUntil - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(tick);
        btn.disabled = false;
        msg.replaceChildren(h('div', { class: 'notice', role: 'status' }, 'You can try again now.'));
        return;
      }
      line.textContent = `Try again in ${waitText(left)}.`;
    };
    clearInterval(tick);
    btn.disabled = true;
    tick = setInterval(() => { if (!box.isConnected) clearInterval(tick); else draw(); }, 1000);
    draw();
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (Date.now() < lockedUntil) return;
    btn.disabled = true;
    msg.replaceChildren();
    try {
      const r = await login(user.value, pass.value);
      if (r.must_change_password) showChange(box, next, user.value, pass.value);
      else { await loadUser(); navigate(safeNext(next), true); }
      return;
    } catch (err) {
      if (err.status === 429) { lockout(err.retryAfter || 60, 'Too many login attempts from here or for this user.'); pass.select(); pass.focus(); return; }
      msg.replaceChildren(errorBox(err));
      // Keep the user where they type: the password again, selected.
      pass.focus();
      pass.select();
    }
    btn.disabled = false;
  });
  box.replaceChildren(form);
  (user.value ? pass : user).focus();
}

function showChange(box, next, username, oldPassword) {
  const p1 = h('input', { id: 'new-password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 128 });
  const p2 = h('input', { id: 'new-password2', type: 'password', autocomplete: 'new-password', required: true, minlength: 8, maxlength: 128 });
  const msg = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'change-submit' }, 'Change password');
  const form = h('form', { class: 'stack', id: 'change-form' },
    h('h1', null, 'Choose a new password'),
    h('p', { class: 'notice' }, 'This account has a generated password. Choose your own (8–128 characters) to continue.'),
    h('div', { class: 'field' }, h('label', { for: 'new-password' }, 'New password'), p1),
    h('div', { class: 'field' }, h('label', { for: 'new-password2' }, 'Repeat it'), p2),
    msg, btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.replaceChildren();
    if (p1.value !== p2.value) { msg.replaceChildren(errorBox(new Error('The two passwords differ.'))); p2.focus(); return; }
    btn.disabled = true;
    try {
      await api('POST', '/auth/change-password', { old_password: oldPassword, new_password: p1.value });
      // The old token is revoked by the change: log in with the new password.
      session.token = null;
      await login(username, p1.value);
      await loadUser();
      navigate(safeNext(next), true);
    } catch (err) {
      msg.replaceChildren(errorBox(err));
    } finally { btn.disabled = false; }
  });
  box.replaceChildren(form);
  p1.focus();
}
