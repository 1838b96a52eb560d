/**
 * Plain-text tables of the evaluation (EC57 style: record-by-record and gross).
 */
import type { EpisodeComparison } from './epicmp.ts';
import { episodeStats } from './epicmp.ts';
import { afSummary, alarmRates, alarmRatesInAf, sumAgreements, type RecordResult } from './evaluate.ts';
import type { Agreement } from './ground-truth.ts';
import { THRESHOLD_KINDS } from './ground-truth.ts';
import type { EvalDatabase } from './records.ts';

const pct = (x: number | undefined) => (x === undefined ? '    -' : x.toFixed(1).padStart(5));
const hms = (ms: number) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};
const table = (header: string[], rows: string[][]) => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
};

/** `matched/truth` and `+extra` detections; `=` marks full agreement. */
const agreementCell = (a: Agreement) => (a.truth === 0 && a.detected === 0 ? '·' : `${a.matched}/${a.truth}${a.extra ? ` +${a.extra}` : ''}${a.missed === 0 && a.extra === 0 ? ' =' : ''}`);

export function thresholdTable(results: readonly RecordResult[]): string {
  const rows = results.map((r) => [`${r.database}/${r.name}`, ...THRESHOLD_KINDS.map((k) => agreementCell(r.threshold[k])), String(Math.max(...THRESHOLD_KINDS.map((k) => r.threshold[k].maxOnsetErrorMs)))]);
  const gross = THRESHOLD_KINDS.map((k) => sumAgreements(results.map((r) => r.threshold[k])));
  const maxErr = Math.max(...gross.map((g) => g.maxOnsetErrorMs));
  rows.push(['gross', ...gross.map(agreementCell), String(maxErr)]);
  return [
    'Threshold alarms vs ground truth from the reference beats (matched/truth, +extra detections, "=" full agreement)',
    table(['record', ...THRESHOLD_KINDS, 'max onset diff ms'], rows),
  ].join('\n');
}

export function vtRhythmTable(results: readonly RecordResult[]): string {
  const withLabels = results.filter((r) => r.vtRhythm);
  if (withLabels.length === 0) return '';
  const rows = withLabels.map((r) => [`${r.database}/${r.name}`, String(r.vtRhythm!.truth), String(r.vtRhythm!.detected), String(r.vtRhythm!.matched), String(r.vtRhythm!.extra)]);
  return ['VT alarms vs the expert (VT rhythm labels (mitdb)', table(['record', 'expert VT', 'vt alarms', 'matched', 'not in (VT'], rows)].join('\n');
}

const afRow = (label: string, refCount: number, c: EpisodeComparison, c30: EpisodeComparison) => {
  const s = episodeStats(c);
  const s30 = episodeStats(c30);
  return [label, String(refCount), String(c.tpPp + c.fp), pct(s.episodeSe), pct(s.episodePp), pct(s.durationSe), pct(s.durationPp), pct(s30.episodeSe), pct(s30.episodePp), pct(s30.durationSe), pct(s30.durationPp)];
};

export function afTable(results: readonly RecordResult[]): string {
  const af = results.filter((r) => r.af);
  const summary = afSummary(results);
  if (!summary) return '';
  const rows = af.map((r) => afRow(r.name, r.af!.standard.tpSe + r.af!.standard.fn, r.af!.standard, r.af!.min30s));
  rows.push(afRow('gross', summary.standard.tpSe + summary.standard.fn, summary.standard, summary.min30s));
  const lat = [...summary.latenciesMs].sort((a, b) => a - b);
  const b = summary.beats;
  const q = (p: number) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! / 1000) : NaN);
  return [
    'AF on afdb, epicmp-style (test period from 5 min; flutter excluded from +P). Left: EC57 standard; right: episodes ≥ 30 s (epicmp -i 30)',
    table(['record', 'ref eps', 'alarms', 'ESe', 'E+P', 'DSe', 'D+P', 'ESe≥30', 'E+P≥30', 'DSe≥30', 'D+P≥30'], rows),
    `reference AF ${hms(summary.standard.refDurationMs)}, detected AF ${hms(summary.standard.testDurationMs)}; alarm latency from onset (true episodes): median ${q(0.5)} s, 90th percentile ${q(0.9)} s, max ${lat.length ? Math.round(lat.at(-1)! / 1000) : NaN} s`,
    `beat by beat (the unit of the published AFDB figures): Se ${pct(100 * b.tp / (b.tp + b.fn)).trim()} %, Sp ${pct(100 * b.tn / (b.tn + b.fp)).trim()} %, PPV ${pct(100 * b.tp / (b.tp + b.fp)).trim()} % (${b.tp + b.fn + b.fp + b.tn} beats)`,
  ].join('\n');
}

export function alarmRateTable(results: readonly RecordResult[]): string {
  const dbs = [...new Set(results.map((r) => r.database))] as EvalDatabase[];
  const rates = dbs.map((db) => alarmRates(results.filter((r) => r.database === db)));
  const kinds = Object.keys(rates[0]?.byKind ?? {}) as (keyof (typeof rates)[number]['byKind'])[];
  // afdb: also the alarms during reference AF/flutter (the afdb 04908 finding), which the scope above leaves out.
  const inAf = dbs.includes('afdb') ? alarmRatesInAf(results.filter((r) => r.database === 'afdb')) : undefined;
  const rows = kinds.map((k) => [k, ...rates.flatMap((r) => {
    const x = r.byKind[k]!;
    return [`${x.alarms} (${x.alarmsPer24h.toFixed(1)})`, `${x.false} (${x.falsePer24h.toFixed(1)})`];
  }), ...(inAf ? [`${inAf.byKind[k]!.alarms} (${inAf.byKind[k]!.alarmsPer24h.toFixed(1)})`] : [])]);
  const header = ['kind', ...dbs.flatMap((db) => [`${db} alarms (/24h)`, `${db} false (/24h)`]), ...(inAf ? ['afdb in AF/AFL alarms (/24h)'] : [])];
  return [
    `Physiological alarms and false alarms per 24 h (scope: ${dbs.map((db, i) => `${db} ${rates[i]!.hours.toFixed(1)} h${db === 'afdb' ? ' outside reference AF/flutter' : ''}`).join('; ')}${inAf ? `; last column: afdb alarms overlapping reference AF/flutter, per ${inAf.hours.toFixed(1)} h of it` : ''}).`,
    'False = no ground-truth episode of that kind (threshold kinds: the criterion on the reference beats; afib: reference AF/flutter).',
    table(header, rows),
  ].join('\n');
}

/** The whole report. */
export function formatReport(results: readonly RecordResult[], runtimeMs: number): string {
  const parts = [thresholdTable(results), vtRhythmTable(results), afTable(results), alarmRateTable(results)].filter(Boolean);
  const beats = results.reduce((s, r) => s + r.beats, 0);
  const hours = results.reduce((s, r) => s + r.durationMs, 0) / 3_600_000;
  parts.push(`${results.length} records, ${hours.toFixed(1)} h, ${beats} beats replayed through PatientStream in ${(runtimeMs / 1000).toFixed(1)} s.`);
  return parts.join('\n\n');
}
