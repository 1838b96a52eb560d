/**
 * The end hysteresis of the extreme rate alarms (the afdb 04908 finding, processor/detectors/consecutive-rate.ts
 * `RateRecovery`): the beat databases re-run with the extreme brady/tachy ending at the first beat
 * back inside the limit (the PhysioNet rule, `recoveryMs: 0`, the rule before), next to the main
 * run (production defaults). Measures what the hysteresis is for — the high-priority alarms of a
 * rate hovering at the limit, which on afdb happens in AF/flutter, outside the §3 scope — and
 * checks what it must not change: every onset of the production run is an onset of the rule
 * before, raised at the same device time; the onsets it lacks lie inside one of its episodes
 * (re-onsets absorbed).
 */
import type { AlertKind } from '../contracts/alert.ts';
import type { Detector } from '../processor/detectors/detector.ts';
import { createExtremeBradyDetector } from '../processor/detectors/extreme-brady.ts';
import { createExtremeTachyDetector } from '../processor/detectors/extreme-tachy.ts';
import { evaluationDetectors } from './detector-set.ts';
import { alarmRates, alarmRatesInAf, type AlarmRate, type RecordResult } from './evaluate.ts';
import { runEvaluation } from './harness.ts';
import type { EvalDatabase } from './records.ts';

const EXTREME_KINDS = ['extreme_brady', 'extreme_tachy'] as const;
const KINDS = ['asystole', 'pause', 'extreme_brady', 'brady', 'extreme_tachy', 'tachy', 'vt', 'afib'] as const;

/** The evaluation detector set with the extreme alarms ending at the first beat back inside the limit (before the afdb 04908 finding). */
export function beforeExtremeEndDetectors(): Detector[] {
  return [...evaluationDetectors().filter((d) => d.kind !== 'extreme_brady' && d.kind !== 'extreme_tachy'), createExtremeBradyDetector({ recoveryMs: 0 }), createExtremeTachyDetector({ recoveryMs: 0 })];
}

type Episode = RecordResult['detected'][number];

export interface OnsetCheck {
  /** Extreme episodes before / after, all records. */
  before: number;
  after: number;
  /** After-onsets that are a before-onset raised at the same device time. */
  sameOnset: number;
  /** Before-onsets not in the after run that lie inside an after episode of the kind (absorbed). */
  absorbed: number;
  /** Anything else (an after onset that is not a before one, or at another time; a before onset lost outside any episode): must be empty. */
  violations: string[];
}

/** Compares the extreme onsets of two runs of one record (times from the record start). */
export function compareExtremeOnsets(name: string, before: readonly Episode[], after: readonly Episode[]): OnsetCheck {
  const check: OnsetCheck = { before: 0, after: 0, sameOnset: 0, absorbed: 0, violations: [] };
  for (const kind of EXTREME_KINDS) {
    const b = before.filter((e) => e.kind === kind);
    const a = after.filter((e) => e.kind === kind);
    check.before += b.length;
    check.after += a.length;
    for (const e of a) {
      const same = b.find((x) => x.startMs === e.startMs);
      if (same && same.latencyMs === e.latencyMs) check.sameOnset++;
      else check.violations.push(`${name} ${kind} onset ${e.startMs} ms ${same ? `raised ${e.latencyMs - same.latencyMs} ms later` : 'not an onset before'}`);
    }
    for (const e of b) {
      if (a.some((x) => x.startMs === e.startMs)) continue;
      if (a.some((x) => x.startMs < e.startMs && e.startMs <= x.endMs)) check.absorbed++;
      else check.violations.push(`${name} ${kind} onset ${e.startMs} ms lost outside any episode`);
    }
  }
  return check;
}

export interface ExtremeEndComparison {
  databases: { database: EvalDatabase; before: AlarmRate; after: AlarmRate; beforeInAf?: AlarmRate; afterInAf?: AlarmRate }[];
  /** Records with an extreme episode either way: episodes before → after. */
  records: { name: string; kind: AlertKind; before: number; after: number }[];
  onsets: OnsetCheck;
}

export async function extremeEndEvaluation(dataDir: string, databases: readonly EvalDatabase[], after: readonly RecordResult[], only?: readonly string[]): Promise<ExtremeEndComparison> {
  const run = await runEvaluation({ dataDir, databases, makeDetectors: beforeExtremeEndDetectors, ...(only ? { records: only } : {}) });
  const onsets: OnsetCheck = { before: 0, after: 0, sameOnset: 0, absorbed: 0, violations: [] };
  const records: ExtremeEndComparison['records'] = [];
  for (const a of after) {
    const b = run.results.find((r) => r.database === a.database && r.name === a.name);
    if (!b) continue;
    const c = compareExtremeOnsets(`${a.database}/${a.name}`, b.detected, a.detected);
    onsets.before += c.before; onsets.after += c.after; onsets.sameOnset += c.sameOnset; onsets.absorbed += c.absorbed; onsets.violations.push(...c.violations);
    for (const kind of EXTREME_KINDS) {
      const nb = b.detected.filter((e) => e.kind === kind).length;
      const na = a.detected.filter((e) => e.kind === kind).length;
      if (nb + na > 0) records.push({ name: `${a.database}/${a.name}`, kind, before: nb, after: na });
    }
  }
  return {
    databases: databases.map((database) => {
      const b = run.results.filter((r) => r.database === database);
      const a = after.filter((r) => r.database === database);
      return { database, before: alarmRates(b), after: alarmRates(a), ...(database === 'afdb' ? { beforeInAf: alarmRatesInAf(b), afterInAf: alarmRatesInAf(a) } : {}) };
    }),
    records,
    onsets,
  };
}

export function formatExtremeEnd(c: ExtremeEndComparison): string {
  const cell = (r: AlarmRate, k: string) => { const x = r.byKind[k as keyof AlarmRate['byKind']]; return x ? `${x.alarms} (${x.alarmsPer24h.toFixed(1)})` : '-'; };
  const columns = c.databases.flatMap((d) => [
    { head: `${d.database}${d.database === 'afdb' ? ' non-AF' : ''} before`, rate: d.before },
    { head: `${d.database}${d.database === 'afdb' ? ' non-AF' : ''} after`, rate: d.after },
    ...(d.beforeInAf && d.afterInAf ? [{ head: 'afdb in AF/AFL before', rate: d.beforeInAf }, { head: 'afdb in AF/AFL after', rate: d.afterInAf }] : []),
  ]);
  const rows = KINDS.map((k) => [k, ...columns.map((col) => cell(col.rate, k))]);
  const sum = (r: AlarmRate, ks: readonly string[]) => ks.reduce((s, k) => s + (r.byKind[k as keyof AlarmRate['byKind']]?.alarms ?? 0), 0);
  const per24 = (r: AlarmRate, ks: readonly string[]) => (r.hours > 0 ? (sum(r, ks) * 24) / r.hours : 0);
  const HIGH = ['asystole', 'extreme_brady', 'extreme_tachy', 'vt'];
  rows.push(['high (asystole, extreme brady/tachy, vt)', ...columns.map((col) => `${sum(col.rate, HIGH)} (${per24(col.rate, HIGH).toFixed(1)})`)]);
  rows.push(['all physiological', ...columns.map((col) => `${sum(col.rate, KINDS)} (${per24(col.rate, KINDS).toFixed(1)})`)]);
  const header = ['kind: alarms (per 24 h)', ...columns.map((col) => col.head)];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  const hours = c.databases.map((d) => `${d.database} ${d.after.hours.toFixed(1)} h${d.afterInAf ? ` + ${d.afterInAf.hours.toFixed(1)} h in AF/AFL` : ''}`).join(', ');
  const o = c.onsets;
  return [
    `Extreme brady/tachy end hysteresis: before = ending at the first beat back inside the limit (PhysioNet rule, recoveryMs 0); after = the production defaults (averaged HR back past the limit by 10 / 5 bpm for 30 s). Scope ${hours}; afdb in AF/AFL = alarms overlapping reference AF/flutter.`,
    line(header), ...rows.map(line),
    `extreme episodes by record, before → after: ${c.records.map((r) => `${r.name} ${r.kind} ${r.before} → ${r.after}`).join(', ') || 'none'}`,
    `onsets: ${o.after} after of ${o.before} before; ${o.sameOnset} the same beat raised at the same device time, ${o.absorbed} re-onsets absorbed into an open episode; otherwise: ${o.violations.join('; ') || 'none'}`,
  ].join('\n');
}
