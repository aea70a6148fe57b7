// Live feeds for pages: `subscribe(path, {onEvent(name, data), onState(s)})`.
// Every tab talks to one SharedWorker that holds one connection per feed
// path (hub.js), so the browser stays far below the API's per-user stream
// cap however many tabs are open. Without SharedWorker (some mobile
// browsers) the same hub runs inside the tab.
import { session, onTokenChange } from './api.js';
import { Hub } from './hub.js';
import { h } from './ui.js';

const PING_MS = 20000;
const subs = new Map(); // path → Set of handlers
const lastState = new Map(); // path → {state, detail, retryIn}
let channel = null;

// Problems the e2e test and a curious admin can read: worker errors, stream refusals.
window.__decnetErrors = window.__decnetErrors || [];

function deliver(msg) {
  const set = subs.get(msg.path);
  if (msg.op === 'error') { window.__decnetErrors.push(`feed worker: ${msg.message}`); return; }
  if (!set) return;
  if (msg.op === 'state') {
    const s = { state: msg.state, detail: msg.detail || '', retryIn: msg.retryIn || 0 };
    lastState.set(msg.path, s);
    if (s.state === 'limited') window.__decnetFailures.push({ method: 'GET', path: msg.path, status: 429, detail: s.detail, expected: false, stream: true });
    for (const hd of set) if (hd.onState) hd.onState(s);
  } else if (msg.op === 'frame') {
    for (const hd of set) hd.onEvent(msg.name, msg.data);
  }
}

function open() {
  if (channel) return channel;
  if (typeof SharedWorker === 'function') {
    try {
      const w = new SharedWorker('/js/hub-worker.js', { type: 'module', name: 'decnet-feeds-1' });
      w.onerror = () => window.__decnetErrors.push('feed worker failed to start');
      w.port.onmessage = (m) => deliver(m.data);
      w.port.start();
      channel = { send: (m) => w.port.postMessage(m), shared: true };
    } catch { channel = null; }
  }
  if (!channel) {
    const hub = new Hub();
    const me = { post: (m) => deliver(m) };
    hub.attach(me);
    channel = { send: (m) => hub.receive(me, m), shared: false };
    setInterval(() => hub.sweep(), 30000);
  }
  setInterval(() => channel.send({ op: 'ping', token: session.token }), PING_MS);
  // A closing tab releases its feeds at once instead of after the timeout.
  window.addEventListener('pagehide', () => channel.send({ op: 'bye' }));
  window.addEventListener('pageshow', (e) => {
    if (!e.persisted) return; // back/forward cache: subscribe again
    for (const path of subs.keys()) channel.send({ op: 'sub', path, token: session.token });
  });
  return channel;
}

// Whether feeds are shared between tabs (a SharedWorker runs them).
export function sharedAcrossTabs() { return !!(open().shared); }

export function subscribe(path, handlers) {
  const ch = open();
  let set = subs.get(path);
  if (!set) {
    set = new Set();
    subs.set(path, set);
    set.add(handlers);
    ch.send({ op: 'sub', path, token: session.token });
  } else {
    set.add(handlers);
    const s = lastState.get(path);
    if (s && handlers.onState) handlers.onState(s);
  }
  return () => {
    set.delete(handlers);
    if (!set.size && subs.get(path) === set) {
      subs.delete(path);
      lastState.delete(path);
      ch.send({ op: 'unsub', path, token: session.token });
    }
  };
}

// A login hands the hub the new token; a logout closes every feed.
// Another tab's logout closed the shared feeds: this tab's still-wanted
// feeds are asked for again with the new token.
onTokenChange((token) => {
  if (!channel) return;
  channel.send({ op: 'token', token });
  if (token) for (const path of subs.keys()) channel.send({ op: 'sub', path, token });
});

// A feed state in words, for the live badge and the notice under the header.
export function describeState(s) {
  switch (s.state) {
    case 'live': return 'live';
    case 'connecting': return 'connecting…';
    case 'reconnecting': return s.retryIn ? `reconnecting in ${s.retryIn} s` : 'reconnecting…';
    case 'limited': return 'paused: stream limit';
    case 'unauthorized': return 'not authorised';
    case 'gone': return 'gone';
    default: return s.state;
  }
}

export function explainState(s) {
  if (s.state === 'limited') {
    return `Live updates paused: the server refused another stream (${s.detail || 'too many open streams'}). `
      + 'Other browsers or scripts logged in as you hold the rest. '
      + `Retrying in ${s.retryIn || 5} s.`;
  }
  if (s.state === 'reconnecting') return `Live updates interrupted: ${s.detail || 'connection lost'}. Retrying${s.retryIn ? ` in ${s.retryIn} s` : ''}.`;
  if (s.state === 'gone') return `This feed no longer exists: ${s.detail}`;
  return '';
}

// A page's feed with its badge and notice: `watch(path, onEvent, ctx,
// onLive)` subscribes until the page is left; `dot` shows the state,
// `note` says why live updates stopped when they did.
export function watch(path, onEvent, ctx, onLive) {
  const dot = h('span', { class: 'live-dot connecting' }, 'connecting…');
  const note = h('div', { class: 'stream-notice', role: 'alert', hidden: true });
  const stop = subscribe(path, {
    onEvent,
    onState: (s) => {
      dot.className = `live-dot ${s.state}`;
      dot.textContent = describeState(s);
      dot.title = s.detail || '';
      const why = explainState(s);
      note.textContent = why;
      note.hidden = !why;
      if (s.state === 'live' && onLive) onLive();
    },
  });
  ctx.onCleanup(stop);
  return { dot, note };
}
