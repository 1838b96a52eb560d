/**
 * Nuisance alarms on slower and faster hearts than the nsr2db records at hand: each record's
 * beat times are multiplied by k (every RR × k: the same rhythm, its variability and its sleep
 * at a mean rate 1/k times the record's), and the medium-priority alarms per 24 h are counted
 * before issue 12 item 5 (limit alarms without delay) and with the production defaults.
 *
 *   node eval/rate-stress.ts [--data DIR] [--scales 0.9,1,1.05,1.1,1.2,1.3] [--criteria '{"brady":{"sustainMs":600000}}']
 *
 * Why: the repository holds one healthy subject (nsr001, mean 79 bpm), while the nuisance target
 * (< 1 per patient-day) is judged on other nsr2db subjects, many slower: the issue's ~22 brady
 * and ~3 tachy alarms per 24 h under the consecutive-beat rule are what nsr001 gives at k ≈ 1.05.
 * A sensitivity check, not a model of any real subject: stretching also lengthens the pauses and
 * slows the rate changes. `--criteria` replaces the brady/tachy defaults by per-patient criteria
 * (contracts/criteria.ts), to compare other delays on the same stretched records.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { alarmCriteriaSchema } from '../contracts/criteria.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import type { Detector } from '../processor/detectors/detector.ts';
import { evaluationDetectors } from './detector-set.ts';
import { beforeNuisanceDetectors } from './ecg-eval.ts';
import { listRecords, loadRecord, type ReferenceRecord } from './records.ts';
import { replayRecord } from './replay.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(repoRoot, '../shared/data/ecg') },
    scales: { type: 'string', default: '0.9,1,1.05,1.1,1.15,1.2,1.3' },
    criteria: { type: 'string' },
  },
});

const scales = values.scales.split(',').map(Number);
if (scales.some((k) => !(k > 0))) throw new Error(`--scales: positive factors, got ${values.scales}`);
const LIMIT_KINDS = ['brady', 'tachy'];
const afterDetectors = (): Detector[] => {
  if (!values.criteria) return evaluationDetectors();
  const criteria = alarmCriteriaSchema.parse(JSON.parse(values.criteria));
  return [...evaluationDetectors().filter((d) => !LIMIT_KINDS.includes(d.kind)), ...detectorsForCriteria(criteria, ['brady', 'tachy'])];
};

/** The record with every beat time (and the record length) multiplied by k. */
const stretched = (r: ReferenceRecord, k: number): ReferenceRecord => ({
  ...r,
  durationMs: Math.round(r.durationMs * k),
  beats: r.beats.map((b) => ({ ...b, timeMs: Math.round(b.timeMs * k) })),
});

const MEDIUM = ['pause', 'brady', 'tachy', 'afib'];
const perDay = (r: ReferenceRecord, detectors: Detector[]) => {
  const episodes = replayRecord(r, detectors).episodes;
  const days = r.durationMs / 86_400_000;
  const rate = (kinds: readonly string[]) => (episodes.filter((e) => kinds.includes(e.kind)).length / days).toFixed(1);
  return { brady: rate(['brady']), tachy: rate(['tachy']), medium: rate(MEDIUM) };
};

const dir = resolve(values.data, 'nsr2db');
const header = ['record', 'RR × k', 'mean HR', 'brady before', 'brady after', 'tachy before', 'tachy after', 'medium before', 'medium after'];
const rows: string[][] = [];
for (const name of await listRecords(dir)) {
  const record = await loadRecord('nsr2db', dir, name);
  for (const k of scales) {
    const r = stretched(record, k);
    const before = perDay(r, beforeNuisanceDetectors());
    const after = perDay(r, afterDetectors());
    const hr = (60_000 * r.beats.length) / r.durationMs;
    rows.push([name, k.toFixed(2), hr.toFixed(0), before.brady, after.brady, before.tachy, after.tachy, before.medium, after.medium]);
  }
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
console.log(`nsr2db with every RR × k: medium-priority alarms (pause, brady, tachy, afib) per 24 h, before issue 12 item 5 vs ${values.criteria ? `criteria ${values.criteria}` : 'the production defaults'}`);
for (const row of [header, ...rows]) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
