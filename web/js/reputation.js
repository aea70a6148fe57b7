// What online reputation services said about an attacker address (the API's
// `enrichment`, `[enrich]` with the user's AbuseIPDB / GreyNoise keys).
// Provider text is third-party data: it goes into text nodes only.
import { h, time } from './ui.js';

const abuse = (r) => r && r.enrichment && r.enrichment.abuseipdb;
const grey = (r) => r && r.enrichment && r.enrichment.greynoise;

// The AbuseIPDB confidence score (0-100), or null when not looked up.
export function scoreOf(r) {
  const a = abuse(r);
  return a && typeof a.abuseConfidenceScore === 'number' ? a.abuseConfidenceScore : null;
}

// The list cell: the score as a badge coloured by level, or a dash.
export function scoreCell(r) {
  const s = scoreOf(r);
  if (s == null) return h('span', { class: 'muted', title: 'Not looked up (no [enrich] abuseipdb_key, private address, or not reached yet)' }, '—');
  const level = s >= 75 ? 'high' : s >= 25 ? 'medium' : 'low';
  return h('span', { class: `badge score-${level}`, title: `AbuseIPDB confidence ${s}% (${abuse(r).totalReports || 0} reports)` }, `${s}%`);
}

// For CSV exports.
export function scoreText(r) { const s = scoreOf(r); return s == null ? '' : String(s); }

// The attacker page's "Reputation" entries (kv pairs), or null when the
// address was never looked up.
export function reputation(r) {
  const a = abuse(r); const g = grey(r);
  if (!a && !g) return null;
  const out = {};
  if (a) {
    out['AbuseIPDB score'] = h('span', { id: 'attacker-abuse-score' }, scoreCell(r), ` ${a.totalReports || 0} reports`,
      a.lastReportedAt ? h('span', { class: 'muted' }, ', last ', time(a.lastReportedAt)) : null);
    out['AbuseIPDB network'] = [a.isp, a.usageType, a.countryCode].filter(Boolean).join(' · ') || '—';
  }
  if (g) {
    out.GreyNoise = h('span', { id: 'attacker-greynoise' }, g.seen === false ? 'not seen by GreyNoise'
      : [g.classification || 'unclassified', g.name && g.name !== 'unknown' ? g.name : null, g.noise ? 'internet noise' : null, g.riot ? 'known benign service (RIOT)' : null,
        g.last_seen ? `last seen ${g.last_seen}` : null].filter(Boolean).join(' · '));
  }
  const fetched = [a && a.fetched_at, g && g.fetched_at].filter(Boolean).sort();
  if (fetched.length) out['Looked up'] = time(fetched[0]);
  return out;
}
