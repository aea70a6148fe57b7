// Where attackers come from: country (flag + code), network owner (ASN),
// and the world map of attacker origins. Values come from the API's `geo`
// (the user's GeoLite2 / DB-IP databases, `[geoip]`); they are attacker-
// controlled only through the address, and go into text nodes only.
import { h, svg, table } from './ui.js';

const names = typeof Intl.DisplayNames === 'function' ? new Intl.DisplayNames(['en'], { type: 'region' }) : null;

// The country's name in English from its ISO code ("DE" → "Germany").
export function countryName(code, fallback) {
  if (code === 'private') return 'Private or loopback address';
  try { return (names && names.of(code)) || fallback || code; } catch { return fallback || code; }
}

// ISO 3166-1 alpha-2 → flag emoji (two regional indicator symbols).
export function flag(code) {
  if (!/^[A-Z]{2}$/.test(code || '')) return '';
  return String.fromCodePoint(...[...code].map((c) => 0x1f1a5 + c.charCodeAt(0)));
}

// The country cell: flag + code (name and city in the tooltip), "private",
// or a dash when unknown / not located.
export function place(geo) {
  if (!geo) return h('span', { class: 'muted', title: 'Not located (no geolocation database, or the address is new)' }, '—');
  if (geo.country) {
    const name = countryName(geo.country, geo.country_name);
    return h('span', { class: 'geo', title: [name, geo.city].filter(Boolean).join(', '), 'aria-label': name },
      h('span', { 'aria-hidden': 'true' }, flag(geo.country)), ' ', geo.country);
  }
  if (geo.private) return h('span', { class: 'badge private', title: 'Private, loopback or link-local address: no country' }, 'private');
  return h('span', { class: 'muted', title: 'Not in the geolocation databases' }, 'unknown');
}

// The network cell: "AS64501 Example Transit".
export function network(geo) {
  if (!geo || geo.asn == null) return h('span', { class: 'muted' }, geo && geo.private ? 'private' : '—');
  return h('span', { class: 'asn' }, h('code', null, `AS${geo.asn}`), geo.as_org ? ` ${geo.as_org}` : '');
}

// Text for CSV exports.
export function placeText(geo) { return geo ? geo.country || (geo.private ? 'private' : '') : ''; }
export function networkText(geo) { return geo && geo.asn != null ? `AS${geo.asn} ${geo.as_org || ''}`.trim() : ''; }

// The world map of attacker origins with its table (the map's accessible
// equivalent: every number on the map is in the table). `rows` is
// /attackers/countries' data; `href(code)` the page a country opens.
export async function worldMap(rows, href) {
  const located = rows.filter((r) => r.country !== 'private');
  const priv = rows.find((r) => r.country === 'private');
  const list = table([
    { key: 'country', label: 'Country', render: (r) => h('a', { href: href(r.country) }, r.country === 'private' ? 'private' : [flag(r.country), ' ', countryName(r.country)]) },
    { key: 'attackers', label: 'Attackers', cls: 'num' },
  ], rows, { sortKey: 'attackers', empty: 'No attacker located yet. Point [geoip] databases (GeoLite2 or DB-IP .mmdb) at decnet to see where they come from.' });
  if (!located.length) return h('div', { id: 'world-map' }, list);
  // The shapes (Natural Earth, ~23 KB) load only when there is something to draw.
  const { VIEWBOX, SHAPES } = await import('./worldmap-data.js');
  const max = Math.max(...located.map((r) => r.attackers));
  const by = new Map(located.map((r) => [r.country, r.attackers]));
  const summary = `${located.reduce((n, r) => n + r.attackers, 0)} located attackers from ${located.length} ${located.length === 1 ? 'country' : 'countries'}${priv ? `, ${priv.attackers} private` : ''}`;
  const map = svg('svg', { viewBox: VIEWBOX, class: 'world-map', role: 'img', 'aria-label': `Map of attacker origins: ${summary}. The table below lists every country.` });
  for (const [code, d] of Object.entries(SHAPES)) {
    const n = by.get(code);
    const title = n ? `${countryName(code)}: ${n} attacker${n === 1 ? '' : 's'}` : countryName(code);
    const path = svg('path', {
      d, class: n ? 'hit' : 'land', 'data-country': code,
      // Log scale: one attacker is visible, a thousand does not drown the rest.
      'fill-opacity': n ? (0.35 + 0.65 * Math.log1p(n) / Math.log1p(max)).toFixed(2) : null,
    }, svg('title', null, title));
    if (n) {
      const a = svg('a', { href: href(code), 'aria-label': title }, path);
      map.appendChild(a);
    } else map.appendChild(path);
  }
  return h('div', { id: 'world-map' }, map, h('p', { class: 'muted small' }, summary, ' · shapes: Natural Earth (public domain)'), list);
}
