// API client: bearer token, JSON errors with their `detail`, 401 → login,
// SSE with single-use tickets and reconnect backoff.

const TOKEN_KEY = 'decnet.token';
const listeners = new Set();

export const session = {
  get token() { return localStorage.getItem(TOKEN_KEY); },
  set token(t) { if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY); },
  user: null, // {username, role, uuid}
  get admin() { return this.user && this.user.role === 'admin'; },
};

// Every non-2xx answer the dashboard got (the end-to-end test reads it).
window.__decnetFailures = window.__decnetFailures || [];

export class ApiError extends Error {
  constructor(status, detail, body) {
    super(typeof detail === 'string' ? detail : formatDetail(detail));
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

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
    if (res.status === 401 && !opts.noAuth) unauthorized();
    throw new ApiError(res.status, data ? data.detail : res.statusText, data);
  }
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

// An SSE stream with single-use tickets: on error it closes, waits with
// exponential backoff (1 s … 30 s, jittered) and reconnects with a fresh
// ticket. Handlers: {onEvent(name, data), onState(state)}; `names` lists the
// SSE event names to listen for (default: message).
export function stream(path, params, handlers, names = ['message']) {
  let es = null;
  let closed = false;
  let delay = 1000;
  let timer = null;
  const state = (s) => handlers.onState && handlers.onState(s);

  async function connect() {
    if (closed) return;
    state('connecting');
    let ticket;
    try {
      ticket = (await post('/auth/sse-ticket')).ticket;
    } catch (e) {
      if (e.status === 401) { state('closed'); return; }
      retry();
      return;
    }
    if (closed) return;
    es = new EventSource(`/api/v1${path}${qs({ ...params, ticket })}`);
    es.onopen = () => { delay = 1000; state('live'); };
    es.onerror = () => { es.close(); es = null; retry(); };
    for (const n of names) {
      es.addEventListener(n, (ev) => {
        let data = null;
        try { data = JSON.parse(ev.data); } catch { data = ev.data; }
        handlers.onEvent(n, data);
      });
    }
  }
  function retry() {
    if (closed) return;
    state('reconnecting');
    const wait = Math.min(delay, 30000) * (0.8 + Math.random() * 0.4);
    delay = Math.min(delay * 2, 30000);
    timer = setTimeout(connect, wait);
  }
  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (es) es.close();
      es = null;
    },
  };
}
