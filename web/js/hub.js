// The feed hub: one connection per feed path for every tab of the browser
// (run in a SharedWorker; in the page itself where SharedWorker is missing).
// The API allows few concurrent streams per user, so tabs never open their
// own: they subscribe here, and a feed stays open while any tab wants it.
//
// Client → hub: {op: 'sub'|'unsub', path, token} · {op: 'token', token} ·
//               {op: 'ping'} · {op: 'bye'}
// Hub → client: {op: 'frame', path, name, data} ·
//               {op: 'state', path, state, detail, retryIn}
import { FeedConnection } from './sse.js';

// A client that has said nothing for this long is gone (a crashed tab
// cannot say bye; background tabs may only run timers once a minute).
export const CLIENT_TIMEOUT_MS = 180000;

// A feed nobody wants stays open this long: a reload or a click to the
// next page asks for it again at once, and reopening would churn streams.
export const LINGER_MS = 5000;

// Frames a late subscriber needs to draw at once: the last snapshot of a
// feed, and /stream's periodic stats and histogram.
function replayKey(name, data) {
  if (name === 'snapshot') return name;
  if (name === 'message' && data && (data.type === 'stats' || data.type === 'histogram')) return data.type;
  return null;
}

export class Hub {
  constructor(now = () => Date.now()) {
    this.now = now;
    this.token = null;
    this.clients = new Map(); // client → {paths: Set, seen}
    this.feeds = new Map(); // path → {conn, clients: Set, replay: Map, state}
  }

  attach(client) {
    this.clients.set(client, { paths: new Set(), seen: this.now() });
  }

  receive(client, msg) {
    let c = this.clients.get(client);
    if (!c) { this.attach(client); c = this.clients.get(client); }
    c.seen = this.now();
    if (msg && 'token' in msg) this.setToken(msg.token);
    switch (msg && msg.op) {
      case 'sub': this.subscribe(client, c, String(msg.path)); break;
      case 'unsub': this.unsubscribe(client, c, String(msg.path)); break;
      case 'bye': this.detach(client); break;
      default: break; // ping, token
    }
  }

  setToken(token) {
    if (token === this.token) return;
    this.token = token || null;
    if (!this.token) {
      // Logged out: nothing may stay open with the old credentials.
      for (const [path, f] of this.feeds) { clearTimeout(f.linger); f.conn.close(); this.feeds.delete(path); }
      return;
    }
    for (const f of this.feeds.values()) f.conn.setToken(this.token);
  }

  subscribe(client, c, path) {
    c.paths.add(path);
    let f = this.feeds.get(path);
    if (!f) {
      f = { clients: new Set(), replay: new Map(), state: null };
      f.conn = new FeedConnection(path, (ev) => this.fromFeed(path, f, ev), this.token);
      this.feeds.set(path, f);
      f.clients.add(client);
      f.conn.start();
      return;
    }
    clearTimeout(f.linger);
    f.linger = null;
    f.clients.add(client);
    if (f.state) client.post({ op: 'state', path, ...f.state });
    for (const [name, data] of f.replay.values()) client.post({ op: 'frame', path, name, data });
  }

  unsubscribe(client, c, path) {
    c.paths.delete(path);
    const f = this.feeds.get(path);
    if (!f) return;
    f.clients.delete(client);
    if (f.clients.size || f.linger) return;
    f.linger = setTimeout(() => {
      f.linger = null;
      if (f.clients.size || this.feeds.get(path) !== f) return;
      f.conn.close();
      this.feeds.delete(path);
    }, LINGER_MS);
  }

  detach(client) {
    const c = this.clients.get(client);
    if (!c) return;
    for (const p of [...c.paths]) this.unsubscribe(client, c, p);
    this.clients.delete(client);
  }

  // Forgets clients that went silent; returns how many.
  sweep() {
    const dead = [...this.clients].filter(([, c]) => this.now() - c.seen > CLIENT_TIMEOUT_MS).map(([cl]) => cl);
    for (const cl of dead) this.detach(cl);
    return dead.length;
  }

  fromFeed(path, f, ev) {
    if (ev.kind === 'state') {
      f.state = { state: ev.state, detail: ev.detail, retryIn: ev.retryIn };
      if (ev.state !== 'live') f.replay.clear();
      for (const cl of f.clients) cl.post({ op: 'state', path, ...f.state });
      return;
    }
    const key = replayKey(ev.name, ev.data);
    if (key) f.replay.set(key, [ev.name, ev.data]);
    for (const cl of f.clients) cl.post({ op: 'frame', path, name: ev.name, data: ev.data });
  }
}
