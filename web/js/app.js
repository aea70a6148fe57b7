// The shell: client-side router (history API; the server falls back to
// index.html), navigation, the login gate and the shared live stream.
import { session, loadUser, logout, onUnauthorized } from './api.js';
import { subscribe, describeState, explainState } from './feeds.js';
import { h, clear, errorBox } from './ui.js';

// Every uncaught error and CSP violation, for the end-to-end test in any
// browser (only Chromium exposes its console to WebDriver).
window.__decnetErrors = window.__decnetErrors || [];
window.addEventListener('error', (e) => window.__decnetErrors.push(`error: ${e.message} at ${e.filename}:${e.lineno}`));
window.addEventListener('unhandledrejection', (e) => window.__decnetErrors.push(`unhandled rejection: ${e.reason && e.reason.stack ? e.reason.stack : e.reason}`));
document.addEventListener('securitypolicyviolation', (e) => window.__decnetErrors.push(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));

const NAV = [
  ['/', 'Overview', 'overview'],
  ['/logs', 'Live logs', 'logs'],
  ['/fleet', 'Fleet', 'fleet'],
  ['/topologies', 'Topologies', 'topologies'],
  ['/attackers', 'Attackers', 'attackers'],
  ['/credentials', 'Credentials', 'credentials'],
  ['/identities', 'Identities', 'identities'],
  ['/bounty', 'Bounty', 'bounty'],
  ['/attack', 'ATT&CK', 'attack'],
  ['/response', 'Response', 'response'],
  ['/canary', 'Canary', 'canary'],
  ['/alerts', 'Alerts', 'alerts'],
  ['/webhooks', 'Webhooks', 'webhooks', true],
  ['/users', 'Users & config', 'users', true],
];

const ROUTES = [
  [/^\/$/, 'overview'],
  [/^\/logs$/, 'logs'],
  [/^\/fleet$/, 'fleet'],
  [/^\/topologies$/, 'topologies'],
  [/^\/topologies\/([A-Za-z0-9-]+)$/, 'topology'],
  [/^\/attackers$/, 'attackers'],
  [/^\/attackers\/([^/]+)$/, 'attacker'],
  [/^\/credentials$/, 'credentials'],
  [/^\/identities$/, 'identities'],
  [/^\/identities\/([0-9a-fA-F-]+)$/, 'identity'],
  [/^\/campaigns\/([0-9a-fA-F-]+)$/, 'campaign'],
  [/^\/account$/, 'account'],
  [/^\/bounty$/, 'bounty'],
  [/^\/attack$/, 'attack'],
  [/^\/response$/, 'response'],
  [/^\/canary$/, 'canary'],
  [/^\/alerts$/, 'alerts'],
  [/^\/webhooks$/, 'webhooks'],
  [/^\/users$/, 'users'],
];

// The /stream feed (through the tab-shared hub), fanned out to this tab's pages.
export const live = {
  subs: new Set(),
  state: { state: 'closed', detail: '', retryIn: 0 },
  stopFeed: null,
  last: { stats: null, histogram: null },
  start() {
    if (this.stopFeed) return;
    this.stopFeed = subscribe('/stream', {
      onEvent: (_n, msg) => {
        if (msg && msg.type) this.last[msg.type] = msg.data;
        for (const fn of this.subs) fn(msg);
      },
      onState: (s) => { this.state = s; renderLiveState(); for (const fn of this.subs) fn({ type: 'state', data: s.state, info: s }); },
    });
  },
  stop() { if (this.stopFeed) this.stopFeed(); this.stopFeed = null; this.state = { state: 'closed', detail: '', retryIn: 0 }; },
  subscribe(fn) { this.subs.add(fn); return () => this.subs.delete(fn); },
};

let cleanups = [];
let navToken = 0;
const app = document.getElementById('app');
let shell = null;

function renderLiveState() {
  const el = document.getElementById('live-state');
  if (el) { el.className = `live-dot ${live.state.state}`; el.textContent = describeState(live.state); el.title = live.state.detail || ''; }
  const note = document.getElementById('stream-notice');
  if (note) {
    const why = explainState(live.state);
    note.textContent = why;
    note.hidden = !why;
    note.className = `stream-notice ${live.state.state}`;
  }
}

export function navigate(path, replace = false) {
  if (replace) history.replaceState(null, '', path); else history.pushState(null, '', path);
  route();
}

function buildShell() {
  const links = NAV.filter((n) => !n[3] || session.admin).map(([href, label, key]) =>
    h('li', null, h('a', { href, 'data-nav': key }, label)));
  const menuBtn = h('button', { class: 'menu-btn', type: 'button', 'aria-label': 'Menu', 'aria-expanded': 'false' }, '☰');
  const nav = h('nav', { class: 'side', id: 'side', 'aria-label': 'Main' }, h('ul', null, links));
  menuBtn.addEventListener('click', () => {
    const open = nav.classList.toggle('open');
    menuBtn.setAttribute('aria-expanded', String(open));
  });
  const who = session.user ? `${session.user.username || 'user'} (${session.user.role})` : '';
  const header = h('header', { class: 'top' },
    menuBtn,
    h('a', { class: 'brand', href: '/' }, h('img', { src: '/favicon.svg', alt: '', width: 22, height: 22 }), 'decnet'),
    h('span', { id: 'live-state', class: `live-dot ${live.state.state}` }, describeState(live.state)),
    h('span', { class: 'spacer' }),
    h('a', { class: 'who muted', href: '/account', title: 'Your account and password' }, who),
    h('button', { type: 'button', class: 'ghost', id: 'logout', on: { click: async () => { live.stop(); await logout(); navigate('/login'); } } }, 'Log out'));
  const main = h('main', { id: 'main', tabindex: '-1' });
  const notice = h('div', { id: 'stream-notice', class: 'stream-notice', role: 'alert', hidden: true });
  shell = { main, nav };
  clear(app).appendChild(h('div', { class: 'layout' }, header, nav, h('div', { class: 'content' }, notice, main)));
  renderLiveState();
}

async function route() {
  const my = ++navToken;
  for (const c of cleanups) { try { c(); } catch { /* ignore */ } }
  cleanups = [];
  const url = new URL(location.href);
  const path = url.pathname;
  if (path === '/login') {
    shell = null;
    live.stop();
    const m = await import('./pages/login.js');
    if (my !== navToken) return;
    clear(app);
    m.render(app, { next: url.searchParams.get('next') || '/' });
    return;
  }
  if (!session.token) { navigate(`/login?next=${encodeURIComponent(path + url.search)}`, true); return; }
  if (!session.user) {
    try { await loadUser(); } catch (e) {
      if (!session.token) return; // 401 handler already redirected
      clear(app).appendChild(errorBox(e));
      return;
    }
    if (my !== navToken) return;
  }
  if (!shell) buildShell();
  live.start();
  let page = null; let params = [];
  for (const [re, name] of ROUTES) {
    const m = path.match(re);
    if (m) { page = name; params = m.slice(1).map(decodeURIComponent); break; }
  }
  for (const a of shell.nav.querySelectorAll('a')) {
    const href = a.getAttribute('href');
    const cur = href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`);
    if (cur) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  shell.nav.classList.remove('open');
  const main = clear(shell.main);
  if (!page) { main.appendChild(h('h1', null, 'Not found')); main.appendChild(h('p', null, 'No page at ', h('code', null, path), '.')); return; }
  const ctx = {
    params,
    query: url.searchParams,
    live,
    navigate,
    onCleanup: (fn) => cleanups.push(fn),
    get current() { return my === navToken; },
  };
  try {
    const mod = await import(`./pages/${page}.js`);
    if (my !== navToken) return;
    await mod.render(main, ctx);
  } catch (e) {
    if (my !== navToken || !session.token) return;
    main.appendChild(errorBox(e));
  }
  document.title = `${(main.querySelector('h1') || {}).textContent || 'decnet'} · decnet`;
}

onUnauthorized(() => {
  live.stop();
  shell = null;
  const here = location.pathname + location.search;
  if (location.pathname !== '/login') navigate(`/login?next=${encodeURIComponent(here)}&expired=1`, true);
});

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download') || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const href = a.getAttribute('href');
  if (!href.startsWith('/') || href.startsWith('/api/')) return;
  e.preventDefault();
  navigate(href);
  if (shell) shell.main.focus({ preventScroll: true });
});
window.addEventListener('popstate', route);
route();
