// DOM helpers. Attacker-controlled data only ever goes into text nodes.
import { humanError } from './api.js';

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children.flat()) if (c) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

const dtf = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
const tf = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

// Times in the browser's zone; the full ISO value in the tooltip.
export function time(iso, short = false) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', null, String(iso));
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, (short ? tf : dtf).format(d));
}

export function fmtBytes(n) {
  if (n == null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0; let x = Number(n);
  while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
  return `${i ? x.toFixed(1) : x} ${u[i]}`;
}

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || String(text).replace(/[^a-z_]/gi, '')}` }, text);
}

export function toast(msg, kind = 'ok') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast ${kind}` }, msg);
  box.appendChild(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

// An API error as a visible block with its `detail` in words.
export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, humanError(err));
}

export function empty(msg) { return h('div', { class: 'empty' }, msg); }

export function loading() { return h('div', { class: 'loading' }, 'Loading…'); }

// A table: columns [{key, label, render(row), sort(row)→value, cls}].
// Clicking a header sorts the rows shown (the server pages; this sorts the page).
export function table(columns, rows, opts = {}) {
  const state = { key: opts.sortKey || null, dir: opts.sortDir || -1 };
  const tbody = h('tbody');
  const heads = columns.map((c) => {
    const th = h('th', { scope: 'col', class: c.cls });
    if (c.sort !== false) {
      const b = h('button', { class: 'sort', type: 'button', on: { click: () => { state.dir = state.key === c.key ? -state.dir : -1; state.key = c.key; draw(); } } }, c.label);
      th.appendChild(b);
    } else th.textContent = c.label;
    return th;
  });
  function value(c, r) { return c.sort ? c.sort(r) : r[c.key]; }
  function draw() {
    clear(tbody);
    let list = rows.slice();
    if (state.key) {
      const c = columns.find((x) => x.key === state.key);
      list.sort((a, b) => {
        const x = value(c, a); const y = value(c, b);
        if (x == null) return 1; if (y == null) return -1;
        return (x > y ? 1 : x < y ? -1 : 0) * state.dir;
      });
    }
    heads.forEach((th, i) => th.setAttribute('aria-sort', columns[i].key === state.key ? (state.dir > 0 ? 'ascending' : 'descending') : 'none'));
    for (const r of list) {
      const tr = h('tr', { class: opts.rowClass ? opts.rowClass(r) || null : null }, columns.map((c) => h('td', { class: c.cls, 'data-label': c.label }, c.render ? c.render(r) : fmtCell(r[c.key]))));
      if (opts.onRow) {
        tr.classList.add('clickable');
        tr.tabIndex = 0;
        tr.addEventListener('click', (e) => { if (!e.target.closest('a,button')) opts.onRow(r); });
        tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.target === tr) opts.onRow(r); });
      }
      tbody.appendChild(tr);
    }
    if (!list.length) tbody.appendChild(h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, opts.empty || 'Nothing here yet.')));
  }
  draw();
  return h('div', { class: 'table-wrap' }, h('table', { class: opts.cls || '' }, h('thead', null, h('tr', null, heads)), tbody));
}

export function fmtCell(v) {
  if (v == null) return '—';
  if (typeof v === 'object') {
    if (Array.isArray(v)) return v.join(', ');
    return Object.entries(v).map(([k, x]) => `${k}: ${typeof x === 'object' ? JSON.stringify(x) : x}`).join(', ');
  }
  return String(v);
}

// Server-side pagination controls.
// exact = false: `total` is a lower bound (the API stopped counting, see
// total_exact on /logs), so the page count and total get a "+".
export function pager(total, limit, offset, go, exact = true) {
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  const more = exact ? '' : '+';
  return h('nav', { class: 'pager', 'aria-label': 'Pagination' },
    h('button', { type: 'button', disabled: offset <= 0, on: { click: () => go(Math.max(0, offset - limit)) } }, '‹ Prev'),
    h('span', null, `Page ${page} of ${pages}${more} · ${total}${more} total`),
    h('button', { type: 'button', disabled: offset + limit >= total, on: { click: () => go(offset + limit) } }, 'Next ›'));
}

export function kv(obj) {
  return h('dl', { class: 'kv' }, Object.entries(obj).map(([k, v]) => [h('dt', null, k), h('dd', null, v instanceof Node ? v : fmtCell(v))]));
}

export function card(title, ...body) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, ...body);
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

// Runs an async action from a button: disables it, shows errors (detail) and success.
export async function act(btn, fn, okMsg) {
  if (btn) btn.disabled = true;
  try {
    const r = await fn();
    if (okMsg) toast(okMsg);
    return r;
  } catch (e) {
    toast(humanError(e), 'error');
    throw e;
  } finally {
    if (btn) btn.disabled = false;
  }
}

// Asks before a destructive action: resolves true only when the user
// presses the confirm button (Escape, Cancel or closing the dialog: false).
export function confirmAction(message, confirmLabel = 'Confirm', detail = '') {
  return new Promise((resolve) => {
    const ok = h('button', { type: 'submit', class: 'danger', value: 'ok', id: 'confirm-ok' }, confirmLabel);
    const cancel = h('button', { type: 'button', id: 'confirm-cancel', autofocus: true }, 'Cancel');
    const form = h('form', { method: 'dialog', class: 'stack' },
      h('p', null, message), detail ? h('p', { class: 'muted small' }, detail) : null,
      h('div', { class: 'row end' }, cancel, ok));
    const dlg = h('dialog', { class: 'modal confirm', 'aria-label': message }, form);
    let yes = false;
    form.addEventListener('submit', () => { yes = true; });
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); resolve(yes); });
    document.body.appendChild(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// Runs `fn` from a button only after the user confirmed.
export async function confirmThen(btn, message, confirmLabel, fn, okMsg) {
  if (!(await confirmAction(message, confirmLabel))) return undefined;
  return act(btn, fn, okMsg);
}

// A small modal dialog; resolves with the form's values or null.
export function dialog(title, fields, submitLabel = 'OK') {
  return new Promise((resolve) => {
    const form = h('form', { method: 'dialog', class: 'stack' });
    const inputs = {};
    for (const f of fields) {
      const listId = `dl-${Math.random().toString(36).slice(2, 9)}`;
      const inp = f.type === 'select'
        ? h('select', { name: f.name }, f.options.map((o) => h('option', { value: o }, o)))
        : f.type === 'combo' ? h('input', { name: f.name, list: listId, required: f.required, autocomplete: 'off' })
        : f.type === 'textarea' ? h('textarea', { name: f.name, rows: 6 }, f.value || '')
          : h('input', { name: f.name, type: f.type || 'text', value: f.value || '', required: f.required, placeholder: f.placeholder || '' });
      inputs[f.name] = inp;
      form.appendChild(field(f.label, inp, f.hint));
      if (f.type === 'combo') form.appendChild(h('datalist', { id: listId }, f.options.map((o) => h('option', { value: o }))));
    }
    const dlg = h('dialog', { class: 'modal' }, h('h2', null, title), form);
    const cancel = h('button', { type: 'button', on: { click: () => { dlg.close(); } } }, 'Cancel');
    form.appendChild(h('div', { class: 'row end' }, cancel, h('button', { type: 'submit', class: 'primary' }, submitLabel)));
    let result = null;
    form.addEventListener('submit', () => {
      result = {};
      for (const [k, i] of Object.entries(inputs)) result[k] = i.type === 'checkbox' ? i.checked : i.value;
    });
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}

export function liveDot(state) {
  const el = h('span', { class: `live-dot ${state}`, title: state }, state === 'live' ? 'live' : state);
  return el;
}
