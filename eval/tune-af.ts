/**
 * How the AF alarm operating point (AfibParams onsetScore, onsetStretchScore, weakEvidenceMs)
 * was chosen, reproducibly: every grid setting is replayed over all afdb records; the setting
 * that maximises the worst of the four gross statistics (episode and duration Se and +P,
 * episodes ≥ 30 s) is reported, together with a leave-one-record-out cross-validation: for each
 * record, the setting is chosen on the other records and scored on that one. The held-out sum is
 * the honest estimate for records the setting was not chosen on.
 *
 *   node eval/tune-af.ts [--data DIR]      (≈ 1 min on 2 cores)
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AFIB_DEFAULTS, createAfibDetector, type AfibParams } from '../processor/detectors/afib.ts';
import { compareEpisodes, episodeStats, sumComparisons, type EpisodeComparison } from './epicmp.ts';
import { AF_MIN_EPISODE_MS, EC57_LEARNING_MS } from './evaluate.ts';
import { listRecords, loadRecord } from './records.ts';
import { replayRecord } from './replay.ts';

const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') } } });

type Setting = Pick<AfibParams, 'onsetScore' | 'onsetStretchScore' | 'weakEvidenceMs'>;
const grid: Setting[] = [];
for (const onsetScore of [AFIB_DEFAULTS.irregularityThreshold, 0.9, 1.0, 1.05, 1.1, 1.2]) {
  for (const onsetStretchScore of [1.1, 1.2, 1.3, Infinity]) {
    for (const weakEvidenceMs of [30_000, 60_000, 120_000, 180_000]) grid.push({ onsetScore, onsetStretchScore, weakEvidenceMs });
  }
}

const dir = join(values.data, 'afdb');
const names = await listRecords(dir);
const scores = new Map<string, EpisodeComparison[]>();
for (const name of names) {
  const record = await loadRecord('afdb', dir, name);
  const reference = record.rhythms.filter((r) => r.rhythm === '(AFIB');
  const flutter = record.rhythms.filter((r) => r.rhythm === '(AFL');
  scores.set(name, grid.map((setting) => {
    const detected = replayRecord(record, [createAfibDetector(setting)]).episodes.filter((e) => e.kind === 'afib');
    return compareEpisodes(reference, detected, { startMs: EC57_LEARNING_MS, endMs: record.durationMs, exclusions: flutter, minEpisodeMs: AF_MIN_EPISODE_MS });
  }));
  process.stderr.write(`  ${name}\n`);
}

const stats = (list: EpisodeComparison[]) => episodeStats(sumComparisons(list));
const worst = (list: EpisodeComparison[]) => { const s = stats(list); return Math.min(s.episodeSe ?? 0, s.episodePp ?? 0, s.durationSe ?? 0, s.durationPp ?? 0); };
const label = (s: Setting) => `onsetScore ${s.onsetScore}, onsetStretchScore ${s.onsetStretchScore}, weakEvidenceMs ${s.weakEvidenceMs}`;
const fmt = (list: EpisodeComparison[]) => { const s = stats(list); return `ESe ${s.episodeSe?.toFixed(1)}  E+P ${s.episodePp?.toFixed(1)}  DSe ${s.durationSe?.toFixed(1)}  D+P ${s.durationPp?.toFixed(1)}`; };
const best = (records: string[]) => grid.reduce((bi, _, gi) => (worst(records.map((n) => scores.get(n)![gi]!)) > worst(records.map((n) => scores.get(n)![bi]!)) ? gi : bi), 0);

const all = best(names);
console.log(`best on all ${names.length} records (episodes ≥ 30 s): ${label(grid[all]!)}\n  ${fmt(names.map((n) => scores.get(n)![all]!))}`);
const current = grid.findIndex((g) => g.onsetScore === AFIB_DEFAULTS.onsetScore && g.onsetStretchScore === AFIB_DEFAULTS.onsetStretchScore && g.weakEvidenceMs === AFIB_DEFAULTS.weakEvidenceMs);
if (current >= 0) console.log(`production defaults: ${label(grid[current]!)}\n  ${fmt(names.map((n) => scores.get(n)![current]!))}`);
const paper = grid.findIndex((g) => g.onsetScore === AFIB_DEFAULTS.irregularityThreshold && g.onsetStretchScore === Infinity && g.weakEvidenceMs === 30_000);
console.log(`paper's η alone: ${fmt(names.map((n) => scores.get(n)![paper]!))}`);
const heldOut: EpisodeComparison[] = [];
console.log('leave-one-record-out:');
for (const name of names) {
  const pick = best(names.filter((n) => n !== name));
  heldOut.push(scores.get(name)![pick]!);
  console.log(`  without ${name}: ${label(grid[pick]!)}`);
}
console.log(`held-out gross: ${fmt(heldOut)}`);
