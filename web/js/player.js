// A small asciicast v2 player: a text-only terminal (cursor moves, erase,
// CR/LF/BS; colours ignored) rendered into a <pre>, with play/pause,
// speed and a progress bar.
//
// A session without a pseudo-terminal (`ssh host cmd`; the recorder writes
// TERM=dumb) carries bare LFs: the attacker's own terminal turned each into
// CR LF (onlcr), so the replay does too instead of drawing a staircase.
import { h } from './ui.js';

export function parseCast(text) {
  const lines = text.split('\n').filter((l) => l.trim());
  let header = {};
  try { header = JSON.parse(lines[0]); } catch { /* not a header */ }
  const frames = [];
  for (const l of lines.slice(1)) {
    try {
      const [t, kind, data] = JSON.parse(l);
      if ((kind === 'o' || kind === 'i') && typeof data === 'string') frames.push([Number(t) || 0, kind, data]);
    } catch { /* skip a bad line */ }
  }
  return { header, frames };
}

export function withoutPty(header) {
  return !!(header && header.env && header.env.TERM === 'dumb');
}

export class Term {
  constructor(cols = 80, rows = 24, onlcr = false) { this.cols = cols; this.rows = rows; this.onlcr = onlcr; this.reset(); }
  reset() { this.lines = [[]]; this.r = 0; this.c = 0; this.esc = null; }
  line() { while (this.lines.length <= this.r) this.lines.push([]); return this.lines[this.r]; }
  write(s) {
    for (const ch of s) {
      if (this.esc !== null) {
        this.esc += ch;
        if (this.esc.length === 1 && ch !== '[' && ch !== ']') { this.esc = null; continue; }
        if (this.esc[0] === ']') { if (ch === '\x07' || this.esc.endsWith('\x1b\\')) this.esc = null; else if (this.esc.length > 256) this.esc = null; continue; }
        if (/[@-~]/.test(ch) && this.esc.length > 1) { this.csi(this.esc.slice(1, -1), ch); this.esc = null; } else if (this.esc.length > 32) this.esc = null;
        continue;
      }
      if (ch === '\x1b') { this.esc = ''; continue; }
      if (ch === '\r') { this.c = 0; continue; }
      if (ch === '\n') { if (this.onlcr) this.c = 0; this.r++; this.line(); continue; }
      if (ch === '\b') { this.c = Math.max(0, this.c - 1); continue; }
      if (ch === '\x07' || ch < ' ') continue;
      const l = this.line();
      while (l.length < this.c) l.push(' ');
      l[this.c] = ch;
      this.c++;
      if (this.c >= this.cols) { this.c = 0; this.r++; }
    }
    if (this.lines.length > 2000) { const cut = this.lines.length - 2000; this.lines.splice(0, cut); this.r -= cut; }
  }
  csi(params, fin) {
    const n = parseInt(params, 10);
    const l = this.line();
    switch (fin) {
      case 'K': if (!params || params === '0') l.length = Math.min(l.length, this.c); else if (params === '2') l.length = 0; break;
      case 'J': if (params === '2' || params === '3') { this.lines = [[]]; this.r = 0; this.c = 0; } break;
      case 'H': case 'f': { const [row, col] = params.split(';').map((x) => parseInt(x, 10) || 1); this.r = Math.max(0, this.lines.length - this.rows) + (row || 1) - 1; this.c = (col || 1) - 1; break; }
      case 'C': this.c += n || 1; break;
      case 'D': this.c = Math.max(0, this.c - (n || 1)); break;
      case 'A': this.r = Math.max(0, this.r - (n || 1)); break;
      case 'B': this.r += n || 1; break;
      case 'G': this.c = (n || 1) - 1; break;
      case 'P': l.splice(this.c, n || 1); break;
      default: break; // m (colours) and the rest: ignored
    }
  }
  text() { return this.lines.map((l) => l.join('')).join('\n'); }
}

export function player(cast) {
  const { header, frames } = cast;
  const term = new Term(header.width || 80, header.height || 24, withoutPty(header));
  const screen = h('pre', { class: 'term', tabindex: '0', 'aria-label': 'Session replay' });
  const playBtn = h('button', { type: 'button', class: 'primary' }, 'Play');
  const speed = h('select', { 'aria-label': 'Speed' }, ['1', '2', '4', '8'].map((s) => h('option', { value: s }, `${s}×`)));
  const bar = h('progress', { max: String(frames.length || 1), value: '0' });
  const info = h('span', { class: 'muted small' });
  const total = frames.length ? frames[frames.length - 1][0] : 0;
  let i = 0; let timer = null; let playing = false;
  const draw = () => { screen.textContent = term.text(); screen.scrollTop = screen.scrollHeight; bar.value = i; info.textContent = `${(frames[i - 1] ? frames[i - 1][0] : 0).toFixed(1)} s / ${total.toFixed(1)} s`; };
  function step() {
    if (i >= frames.length) { stop(); playBtn.textContent = 'Replay'; return; }
    const [t, kind, data] = frames[i];
    if (kind === 'o') term.write(data);
    i++;
    draw();
    const next = frames[i];
    const gap = next ? Math.min(2, Math.max(0, next[0] - t)) * 1000 / Number(speed.value) : 0;
    timer = setTimeout(step, gap);
  }
  function stop() { playing = false; clearTimeout(timer); playBtn.textContent = 'Play'; }
  playBtn.addEventListener('click', () => {
    if (playing) { stop(); return; }
    if (i >= frames.length) { i = 0; term.reset(); }
    playing = true; playBtn.textContent = 'Pause'; step();
  });
  const skip = h('button', { type: 'button' }, 'Show all');
  skip.addEventListener('click', () => { stop(); for (; i < frames.length; i++) if (frames[i][1] === 'o') term.write(frames[i][2]); draw(); });
  draw();
  const el = h('div', { class: 'player' }, h('div', { class: 'row' }, playBtn, skip, speed, bar, info), screen);
  el.stop = stop;
  return el;
}
