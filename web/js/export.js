// CSV / JSON export of what a list page shows (all matching rows, paged
// through the API, up to a cap), saved in the browser.
import { h, act, toast } from './ui.js';

// Most rows one export collects (the API pages 1,000 at a time).
export const EXPORT_MAX = 10000;
const PAGE = 1000;

// A CSV cell. Attackers choose most of these values: a leading = + - @
// (or tab/CR) would run as a formula in a spreadsheet, so it gets a quote
// character in front (OWASP's CSV injection advice).
export function csvCell(v) {
  let s = v == null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// columns: [[header, row → value]].
export function toCsv(rows, columns) {
  const lines = [columns.map(([name]) => csvCell(name)).join(',')];
  for (const r of rows) lines.push(columns.map(([, f]) => csvCell(f(r))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function saveText(text, filename, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Pages through `fetchPage(offset, limit)` → {data, total} until `keep`
// says stop (rows come newest first) or `max` rows.
export async function collect(fetchPage, keep = () => true, onProgress = () => {}, max = EXPORT_MAX) {
  const out = [];
  for (let offset = 0; out.length < max; offset += PAGE) {
    const p = await fetchPage(offset, PAGE);
    let stop = false;
    for (const r of p.data) {
      const k = keep(r);
      if (k === 'stop') { stop = true; break; }
      if (k) out.push(r);
    }
    onProgress(out.length, p.total);
    if (stop || p.data.length < PAGE || offset + PAGE >= p.total) break;
  }
  return out.slice(0, max);
}

// A random (v4) UUID; crypto.randomUUID exists only on HTTPS or localhost.
export function uuid4() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// "Export CSV" and "Export JSON" buttons. `rows()` resolves the rows;
// `columns` is the CSV layout; `name` the file name stem.
export function exportButtons(name, rows, columns) {
  const run = (btn, kind) => act(btn, async () => {
    const status = btn.parentElement.querySelector('.export-status');
    status.textContent = 'Collecting…';
    const list = await rows((n) => { status.textContent = `Collecting… ${n}`; });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    if (kind === 'csv') saveText(toCsv(list, columns), `${name}-${stamp}.csv`, 'text/csv');
    else saveText(`${JSON.stringify(list, null, 2)}\n`, `${name}-${stamp}.json`, 'application/json');
    const capped = list.length >= EXPORT_MAX ? ` (capped at ${EXPORT_MAX})` : '';
    status.textContent = `Exported ${list.length} rows${capped}.`;
    toast(`Exported ${list.length} ${name} rows as ${kind.toUpperCase()}${capped}`);
  }).catch(() => { btn.parentElement.querySelector('.export-status').textContent = 'Export failed.'; });
  const csv = h('button', { type: 'button', class: 'export-csv' }, 'Export CSV');
  const json = h('button', { type: 'button', class: 'export-json' }, 'Export JSON');
  csv.addEventListener('click', () => run(csv, 'csv'));
  json.addEventListener('click', () => run(json, 'json'));
  return h('div', { class: 'export row' }, csv, json, h('span', { class: 'muted small export-status', role: 'status' }));
}
