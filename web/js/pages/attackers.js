import { get, qs } from '../api.js';
import { h, table, pager, errorBox, badge, time, act, toast } from '../ui.js';
import { rangeControl, rangeFromQuery, rangeToQuery, bounds, newestFirstWithin, describe } from '../timerange.js';
import { exportButtons, collect, saveText, uuid4 } from '../export.js';
import { place, network, placeText, networkText, countryName, flag } from '../geo.js';
import { scoreCell, scoreOf, scoreText } from '../reputation.js';

const LIMIT = 50;
// Rows a time-filtered view reads (newest first) before filtering here:
// the API's attacker list has no time filter yet.
const WINDOW_ROWS = 1000;
// Most attackers one fleet-wide STIX/MISP export fetches, one request each.
const INTEL_MAX = 500;

// The intel worker's behaviour classes (decnet-intel profile.rs `classify`).
export const BEHAVIORS = [
  ['scanning', 'Scanning (many ports, fast)'],
  ['slow_scan', 'Slow scan (many ports, ≥ 30 s apart)'],
  ['brute_force', 'Brute force (10+ logins)'],
  ['beaconing', 'Beaconing (regular sessions)'],
  ['interactive', 'Interactive (3+ commands)'],
  ['mixed', 'Mixed (several of these)'],
  ['unknown', 'Unknown (no rule matched)'],
];

const CSV = [
  ['ip', (r) => r.ip], ['behavior', (r) => r.behavior], ['behavior_rule', (r) => r.behavior_rule],
  ['event_count', (r) => r.event_count], ['sessions', (r) => r.sessions], ['credentials_tried', (r) => r.credentials_tried],
  ['commands_run', (r) => r.commands_run], ['artifacts', (r) => r.artifacts], ['distinct_ports', (r) => r.distinct_ports],
  ['services', (r) => Object.keys(r.services || {}).join(' ')], ['deckies', (r) => Object.keys(r.deckies || {}).join(' ')],
  ['fingerprints', (r) => (r.fingerprints || []).join(' ')], ['identity_id', (r) => r.identity_id],
  ['country', (r) => placeText(r.geo)], ['network', (r) => networkText(r.geo)], ['abuse_score', scoreText],
  ['first_seen', (r) => r.first_seen], ['last_seen', (r) => r.last_seen],
];

export async function render(root, ctx) {
  const search = h('input', { type: 'search', name: 'search', placeholder: 'IP or text', value: ctx.query.get('search') || '', 'aria-label': 'Search attackers' });
  const behavior = h('select', { 'aria-label': 'Behaviour', name: 'behavior' }, h('option', { value: '' }, 'any behaviour'), BEHAVIORS.map(([v, label]) => h('option', { value: v }, label)));
  behavior.value = ctx.query.get('behavior') || '';
  // Countries located so far (the filter offers only those).
  const country = h('select', { 'aria-label': 'Country', name: 'country', id: 'country-filter' }, h('option', { value: '' }, 'any country'));
  const wanted = ctx.query.get('country') || '';
  if (wanted) country.append(h('option', { value: wanted }, wanted === 'private' ? 'private' : `${flag(wanted)} ${countryName(wanted)}`));
  country.value = wanted;
  get('/attackers/countries').then((c) => {
    country.replaceChildren(h('option', { value: '' }, 'any country'), ...c.data.map((r) => h('option', { value: r.country }, r.country === 'private' ? `private (${r.attackers})` : `${flag(r.country)} ${countryName(r.country)} (${r.attackers})`)));
    if (wanted && !c.data.some((r) => r.country === wanted)) country.append(h('option', { value: wanted }, wanted));
    country.value = wanted;
  }, () => {});
  // AbuseIPDB confidence floor (online enrichment, `[enrich]`).
  const minScore = h('select', { 'aria-label': 'AbuseIPDB score', name: 'min_score', id: 'score-filter' }, h('option', { value: '' }, 'any abuse score'),
    [25, 50, 75, 90].map((n) => h('option', { value: String(n) }, `abuse score ≥ ${n}%`)));
  minScore.value = ctx.query.get('min_score') || '';
  const form = h('form', { class: 'filters', role: 'search' }, search, behavior, country, minScore, h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  let range = rangeFromQuery(ctx.query);
  const rangeEl = rangeControl(range, (r) => { range = r; offset = 0; load(); });
  const box = h('div', { id: 'attackers' });
  const intelStatus = h('span', { class: 'muted small', id: 'intel-export-status', role: 'status' });
  const stixBtn = h('button', { type: 'button', id: 'export-stix' }, 'Export STIX (all listed)');
  const mispBtn = h('button', { type: 'button', id: 'export-misp' }, 'Export MISP (all listed)');
  const filtersNow = () => ({ search: search.value.trim(), behavior: behavior.value, country: country.value, min_score: minScore.value });
  const exp = exportButtons('attackers', (progress) => matching(progress), CSV);
  exp.append(stixBtn, mispBtn, intelStatus);
  root.append(h('h1', null, 'Attackers'), form, h('div', { class: 'row' }, h('span', { class: 'muted small' }, 'Last seen:'), rangeEl), exp, box);
  let offset = Number(ctx.query.get('offset') || 0);
  form.addEventListener('submit', (e) => { e.preventDefault(); offset = 0; load(); });
  behavior.addEventListener('change', () => { offset = 0; load(); });
  country.addEventListener('change', () => { offset = 0; load(); });
  minScore.addEventListener('change', () => { offset = 0; load(); });
  stixBtn.addEventListener('click', () => intelExport(stixBtn, 'stix'));
  mispBtn.addEventListener('click', () => intelExport(mispBtn, 'misp'));

  // Every attacker the filters (and time range) select, newest first.
  function matching(progress = () => {}) {
    return collect((off, lim) => get(`/attackers${qs({ ...filtersNow(), limit: lim, offset: off })}`), newestFirstWithin(bounds(range)), progress);
  }

  // One bundle (STIX) or event (MISP) for every listed attacker, from the
  // per-attacker exports (the API has no fleet-wide one yet).
  async function intelExport(btn, format) {
    await act(btn, async () => {
      intelStatus.textContent = 'Listing attackers…';
      const list = (await matching()).slice(0, INTEL_MAX);
      if (!list.length) { intelStatus.textContent = 'No attackers to export.'; toast('No attackers match: nothing exported', 'error'); return; }
      const docs = [];
      let failed = 0;
      for (let i = 0; i < list.length; i++) {
        intelStatus.textContent = `Exporting ${i + 1}/${list.length}…`;
        try { docs.push(await get(`/attackers/${encodeURIComponent(list[i].ip)}/export${qs({ format })}`)); } catch { failed++; }
      }
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
      let summary;
      if (format === 'stix') {
        const seen = new Map();
        for (const d of docs) for (const o of d.objects || []) seen.set(o.id, o);
        const bundle = { type: 'bundle', id: `bundle--${uuid4()}`, objects: [...seen.values()] };
        saveText(`${JSON.stringify(bundle, null, 2)}\n`, `decnet-attackers-${stamp}.stix.json`, 'application/json');
        summary = `STIX bundle: ${docs.length} attackers, ${bundle.objects.length} objects`;
      } else {
        const attrs = new Map();
        for (const d of docs) for (const a of (d.Event && d.Event.Attribute) || []) attrs.set(`${a.type}|${a.value}`, a);
        const ev = { Event: { info: `decnet honeypot activity: ${docs.length} attackers (${describe(range)})`, date: new Date().toISOString().slice(0, 10), threat_level_id: '2', analysis: '2', distribution: '0', Tag: [{ name: 'decnet' }], Attribute: [...attrs.values()] } };
        saveText(`${JSON.stringify(ev, null, 2)}\n`, `decnet-attackers-${stamp}.misp.json`, 'application/json');
        summary = `MISP event: ${docs.length} attackers, ${ev.Event.Attribute.length} attributes`;
      }
      const capped = list.length >= INTEL_MAX ? ` (first ${INTEL_MAX})` : '';
      const fails = failed ? `; ${failed} failed` : '';
      intelStatus.textContent = `Exported ${summary}${capped}${fails}.`;
      toast(`Exported ${summary}${capped}${fails}`, failed ? 'error' : 'ok');
    }).catch((e) => { intelStatus.textContent = `Export failed: ${e.message}`; });
  }

  async function load() {
    const p = { ...filtersNow(), ...rangeToQuery(range), offset: offset || '' };
    history.replaceState(null, '', `/attackers${qs(p)}`);
    const b = bounds(range);
    try {
      let page;
      if (b.since == null && b.until == null) {
        page = await get(`/attackers${qs({ ...filtersNow(), limit: LIMIT, offset })}`);
      } else {
        const rows = await collect((off, lim) => get(`/attackers${qs({ ...filtersNow(), limit: lim, offset: off })}`),
          newestFirstWithin(b), undefined, WINDOW_ROWS);
        page = { total: rows.length, data: rows.slice(offset, offset + LIMIT), capped: rows.length >= WINDOW_ROWS };
      }
      if (!ctx.current) return;
      const cls = BEHAVIORS.find(([v]) => v === behavior.value);
      const none = cls ? `No attackers classed “${cls[1]}”${b.since || b.until ? ` ${describe(range)}` : ''}.`
        : country.value ? `No attackers located in ${countryName(country.value)}.` : minScore.value ? `No attackers with an AbuseIPDB score of ${minScore.value}% or more (needs [enrich] abuseipdb_key).` : 'No attackers yet. Anyone who touches a decky shows up here.';
      box.replaceChildren(
        table([
          { key: 'ip', label: 'Address', render: (r) => h('a', { href: `/attackers/${encodeURIComponent(r.ip)}` }, r.ip) },
          { key: 'behavior', label: 'Behaviour', render: (r) => h('span', { title: r.behavior_rule || '', class: 'behavior', dataset: { behavior: r.behavior || 'unknown' } }, badge(r.behavior || 'unknown')) },
          { key: 'country', label: 'Country', render: (r) => place(r.geo), sort: (r) => placeText(r.geo) },
          { key: 'network', label: 'Network', render: (r) => network(r.geo), sort: (r) => (r.geo && r.geo.asn) || 0 },
          { key: 'abuse', label: 'Abuse', render: scoreCell, sort: (r) => scoreOf(r) ?? -1 },
          { key: 'event_count', label: 'Events', cls: 'num' },
          { key: 'sessions', label: 'Sessions', cls: 'num' },
          { key: 'credentials_tried', label: 'Creds', cls: 'num' },
          { key: 'commands_run', label: 'Cmds', cls: 'num' },
          { key: 'artifacts', label: 'Files', cls: 'num' },
          { key: 'services', label: 'Services', render: (r) => Object.keys(r.services || {}).join(', '), sort: (r) => Object.keys(r.services || {}).length },
          { key: 'deckies', label: 'Deckies', render: (r) => Object.keys(r.deckies || {}).join(', '), sort: (r) => Object.keys(r.deckies || {}).length },
          { key: 'first_seen', label: 'First seen', render: (r) => time(r.first_seen) },
          { key: 'last_seen', label: 'Last seen', render: (r) => time(r.last_seen) },
        ], page.data, { sortKey: 'last_seen', cls: 'cards', onRow: (r) => ctx.navigate(`/attackers/${encodeURIComponent(r.ip)}`), empty: none }),
        ...(page.capped ? [h('p', { class: 'muted small' }, `Only the ${WINDOW_ROWS} most recently seen attackers were searched for this time range.`)] : []),
        pager(page.total, LIMIT, offset, (o) => { offset = o; load(); }));
    } catch (e) { box.replaceChildren(errorBox(e)); }
  }
  await load();
}
