// Shared rendering of decky events (overview, live logs, attacker timeline).
import { h, time, badge } from './ui.js';

// One-line summary of an event's protocol fields.
export function summary(ev) {
  const f = ev.fields || {};
  const parts = [];
  const user = f.username ?? f.principal;
  if (ev.kind === 'auth_attempt') {
    parts.push(`${user ?? '?'} / ${f.secret_printable ?? f.password ?? '…'}`);
    if (f.success) parts.push('(accepted)');
  } else if (ev.kind === 'command') {
    parts.push(f.command ?? f.cmd ?? f.line ?? JSON.stringify(f));
  } else if (ev.kind === 'request') {
    if (f.method || f.path) parts.push(`${f.method ?? ''} ${f.path ?? ''}`.trim());
    else parts.push(compact(f));
  } else if (ev.kind === 'disconnect') {
    if (f.duration_ms != null) parts.push(`${f.duration_ms} ms`);
  } else {
    const c = compact(f);
    if (c) parts.push(c);
  }
  return parts.join(' ');
}

function compact(f) {
  const s = Object.entries(f).filter(([, v]) => typeof v !== 'object').map(([k, v]) => `${k}=${v}`).join(' ');
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

export function eventRow(ev, { linkAttacker = true } = {}) {
  return h('tr', { class: `ev kind-${ev.kind}`, dataset: { id: ev.id } },
    h('td', { class: 'nowrap', 'data-label': 'Time' }, time(ev.ts, true)),
    h('td', { 'data-label': 'Decky' }, ev.decky),
    h('td', { 'data-label': 'Service' }, ev.service),
    h('td', { 'data-label': 'Kind' }, badge(ev.kind)),
    h('td', { class: ev.src_ip.includes(':') ? 'addr' : 'nowrap', 'data-label': 'Source' }, linkAttacker ? h('a', { href: `/attackers/${encodeURIComponent(ev.src_ip)}` }, ev.src_ip) : ev.src_ip, h('span', { class: 'muted' }, `:${ev.src_port}`)),
    h('td', { class: 'detail', 'data-label': 'Detail' }, summary(ev)));
}

export function eventTable(id) {
  const tbody = h('tbody', { id });
  const tbl = h('div', { class: 'table-wrap' }, h('table', { class: 'events' },
    h('thead', null, h('tr', null, ['Time', 'Decky', 'Service', 'Kind', 'Source', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody));
  return { el: tbl, tbody };
}

// The CSV layout of events (export).
export const eventColumns = [
  ['time', (e) => e.ts], ['decky', (e) => e.decky], ['service', (e) => e.service], ['kind', (e) => e.kind],
  ['src_ip', (e) => e.src_ip], ['src_port', (e) => e.src_port], ['dst_ip', (e) => e.dst_ip], ['dst_port', (e) => e.dst_port],
  ['session_id', (e) => e.session_id], ['summary', (e) => summary(e)], ['fields', (e) => e.fields], ['id', (e) => e.id],
];
