// One server-sent-events feed read with fetch instead of EventSource, so
// the answer's status is known: a 429 (per-user stream cap) or 401 can be
// told apart from a dropped connection, and the bearer token goes in a
// header (no single-use ticket round trip). Runs in a page or a worker.

const MAX_LINE = 4 * 1024 * 1024; // one frame line; a longer one is a broken or hostile server
const STALL_MS = 45000; // the API sends a keepalive every 15 s
const MIN_DELAY = 1000;
const MAX_DELAY = 30000;

// Splits an SSE byte stream (already decoded to text) into frames.
export class SseParser {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.buf = '';
    this.name = '';
    this.data = [];
  }

  push(text) {
    this.buf += text;
    const eol = /\r\n|\r(?!$)|\n/g; // a CR at the very end may be half of a CRLF
    let start = 0;
    let m;
    while ((m = eol.exec(this.buf)) !== null) {
      this.line(this.buf.slice(start, m.index));
      start = m.index + m[0].length;
    }
    this.buf = this.buf.slice(start);
    if (this.buf.length > MAX_LINE) throw new Error('SSE line too long');
  }

  line(line) {
    if (line === '') {
      if (this.data.length) this.onFrame(this.name || 'message', this.data.join('\n'));
      this.name = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return; // comment (keepalive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.name = value;
    else if (field === 'data') this.data.push(value);
  }
}

function parseJson(text) {
  try { return JSON.parse(text); } catch { return text; }
}

// A feed that reconnects by itself. `emit` receives
//   {kind: 'frame', name, data}
//   {kind: 'state', state, detail, retryIn}
// with state one of connecting, live, reconnecting, limited (429: the
// per-user stream cap), unauthorized (401/403: waits for a new token),
// gone (404: the thing streamed no longer exists), closed.
export class FeedConnection {
  constructor(path, emit, token) {
    this.path = path;
    this.emit = emit;
    this.token = token;
    this.delay = MIN_DELAY;
    this.closed = false;
    this.abort = null;
    this.timer = null;
    this.state = 'closed';
  }

  start() {
    if (this.closed || this.abort || this.timer) return;
    this.run();
  }

  // A new token (login as someone else, a token replaced or expired)
  // reopens the stream with it: a stream must not outlive the credentials
  // it was opened with, or a browser would keep the previous user's feed.
  setToken(token) {
    if (token === this.token) return;
    this.token = token;
    if (this.closed) return;
    const old = this.abort;
    this.abort = null;
    if (old) old.abort();
    clearTimeout(this.timer);
    this.timer = null;
    this.delay = MIN_DELAY;
    this.run();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.abort) this.abort.abort();
    this.abort = null;
    this.setState('closed');
  }

  setState(state, detail = '', retryIn = 0) {
    this.state = state;
    this.emit({ kind: 'state', state, detail, retryIn });
  }

  later(state, detail, seconds) {
    if (this.closed) return;
    const wait = Math.max(seconds * 1000, Math.min(this.delay, MAX_DELAY) * (0.8 + Math.random() * 0.4));
    this.delay = Math.min(this.delay * 2, MAX_DELAY);
    this.setState(state, detail, Math.ceil(wait / 1000));
    this.timer = setTimeout(() => { this.timer = null; this.run(); }, wait);
  }

  async run() {
    if (this.closed) return;
    if (!this.token) { this.setState('unauthorized', 'Not logged in'); return; }
    const ctl = new AbortController();
    this.abort = ctl;
    this.setState('connecting');
    let res;
    try {
      res = await fetch(`/api/v1${this.path}`, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${this.token}` },
        cache: 'no-store',
        signal: ctl.signal,
      });
    } catch (e) {
      if (this.abort !== ctl) return; // replaced (new token) or closed
      this.abort = null;
      this.later('reconnecting', `Network error: ${e.message}`, 0);
      return;
    }
    if (this.abort !== ctl) { try { ctl.abort(); } catch { /* done */ } return; }
    if (!res.ok) {
      this.abort = null;
      let detail = res.statusText;
      try { const body = await res.json(); if (body && typeof body.detail === 'string') detail = body.detail; } catch { /* not JSON */ }
      if (res.status === 401 || res.status === 403) this.setState('unauthorized', detail);
      else if (res.status === 404) this.setState('gone', detail);
      else if (res.status === 429) this.later('limited', detail, Number(res.headers.get('retry-after')) || 5);
      else this.later('reconnecting', detail, 0);
      return;
    }
    this.delay = MIN_DELAY;
    this.setState('live');
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser((name, data) => this.emit({ kind: 'frame', name, data: parseJson(data) }));
    let stall = null;
    const watchdog = () => { clearTimeout(stall); stall = setTimeout(() => ctl.abort(), STALL_MS); };
    let why = 'The server closed the stream';
    try {
      watchdog();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        watchdog();
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch (e) {
      why = ctl.signal.aborted ? 'No data from the server for 45 s' : `Stream broken: ${e.message}`;
      try { ctl.abort(); } catch { /* already */ }
    } finally {
      clearTimeout(stall);
    }
    if (this.abort !== ctl) return; // replaced (new token) or closed
    this.abort = null;
    if (!this.closed) this.later('reconnecting', why, 0);
  }
}
