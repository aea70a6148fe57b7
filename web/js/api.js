// API client: bearer token, JSON errors with their `detail` (and
// Retry-After), 401 → login. Live feeds are in feeds.js.

const TOKEN_KEY = 'decnet.token';
const listeners = new Set();
const tokenListeners = new Set();

export const session = {
  get token() { return localStorage.getItem(TOKEN_KEY); },
  set token(t) {
    if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY);
    for (const fn of tokenListeners) fn(t || null);
  },
  user: null, // {username, role, uuid}
  get admin() { return this.user && this.user.role === 'admin'; },
};

// Every non-2xx answer the dashboard got (the end-to-end test reads it).
window.__decnetFailures = window.__decnetFailures || [];

export class ApiError extends Error {
  constructor(status, detail, body, retryAfter = 0) {
    super(typeof detail === 'string' ? detail : formatDetail(detail));
    this.status = status;
    this.detail = detail;
    this.body = body;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

// An error as a sentence for people: the API's detail, with what to do
// about it where the status says so, never a bare status code.
export function humanError(e) {
  if (!e) return 'Unknown error';
  const msg = e.message || String(e);
  switch (e.status) {
    case 0: return `Cannot reach the server. ${msg}`;
    case 403: return `Not allowed: ${msg}`;
    case 404: return `Not found: ${msg}`;
    case 429: return e.retryAfter ? `${msg.replace(/[;.]?\s*try again later\.?$/i, '')}. Try again in ${waitText(e.retryAfter)}.` : msg;
    default:
      if (e.status >= 500) return `The server failed: ${msg}`;
      return msg;
  }
}

export function waitText(seconds) {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 90) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
}

export function onTokenChange(fn) { tokenListeners.add(fn); }
// A login or logout in another tab of this browser.
window.addEventListener('storage', (e) => {
  if (e.key === TOKEN_KEY) for (const fn of tokenListeners) fn(e.newValue || null);
});

export function formatDetail(detail) {
  if (detail == null) return 'Unknown error';
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => {
      const loc = Array.isArray(d.loc) ? d.loc.filter((x) => x !== 'body').join('.') : '';
      return loc ? `${loc}: ${d.msg}` : String(d.msg ?? JSON.stringify(d));
    }).join('\n');
  }
  return JSON.stringify(detail);
}

export function onUnauthorized(fn) { listeners.add(fn); }

function unauthorized() {
  session.token = null;
  session.user = null;
  for (const fn of listeners) fn();
}

export async function api(method, path, body, opts = {}) {
  const headers = { accept: 'application/json' };
  if (session.token && !opts.noAuth) headers.authorization = `Bearer ${session.token}`;
  let payload;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: payload, signal: opts.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `Network error: ${e.message}`);
  }
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    window.__decnetFailures.push({ method, path, status: res.status, detail: data && data.detail, expected: !!opts.expectError });
    // noLogout: a 401 that means "wrong current password" (change-password), not a dead session.
    if (res.status === 401 && !opts.noAuth && !opts.noLogout) unauthorized();
    throw new ApiError(res.status, data ? data.detail : res.statusText, data, Number(res.headers.get('retry-after')) || 0);
  }
  if (opts.raw) return res;
  if (opts.blob) return res.blob();
  if (opts.text) return res.text();
  if (res.status === 204) return null;
  const ct = res.headers.get('content-type') || '';
  return ct.includes('json') ? res.json() : res.text();
}

export const get = (p, o) => api('GET', p, undefined, o);
export const post = (p, b, o) => api('POST', p, b === undefined ? {} : b, o);
export const put = (p, b, o) => api('PUT', p, b, o);
export const del = (p, o) => api('DELETE', p, undefined, o);

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') u.set(k, v);
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

export async function login(username, password) {
  const r = await api('POST', '/auth/login', { username, password }, { noAuth: true, expectError: true });
  session.token = r.access_token;
  return r;
}

export async function loadUser() {
  const cfg = await get('/config');
  let claims = {};
  try { claims = JSON.parse(atob(session.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))); } catch { /* opaque */ }
  const me = (cfg.users || []).find((u) => u.uuid === claims.uuid);
  session.user = { role: cfg.role, uuid: claims.uuid, username: me ? me.username : (claims.sub || ''), exp: claims.exp };
  return cfg;
}

export async function logout() {
  try { await post('/auth/logout'); } catch { /* already gone */ }
  session.token = null;
  session.user = null;
}
