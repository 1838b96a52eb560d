/**
 * How the AF alarm operating point (AfibParams onsetScore, onsetStretchScore, weakEvidenceMs, entropyThreshold, entropyEvidenceMs)
 * was chosen, reproducibly: every grid setting is replayed over all afdb records; the setting
 * that maximises the worst of the four gross statistics (episode and duration Se and +P,
 * episodes ≥ 30 s; among near-ties, the earliest true alarms) is reported, together with a leave-one-record-out cross-validation: for each
 * record, the setting is chosen on the other records and scored on that one. The held-out sum is
 * the honest estimate for records the setting was not chosen on.
 *
 *   node eval/tune-af.ts [--data DIR]      (≈ 3–4 min on 2 cores)
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AFIB_DEFAULTS, createAfibDetector, type AfibParams } from '../processor/detectors/afib.ts';
import { compareEpisodes, episodeStats, mergeIntervals, overlapMs, sumComparisons, type EpisodeComparison } from './epicmp.ts';
import { AF_MIN_EPISODE_MS, EC57_LEARNING_MS } from './evaluate.ts';
import { listRecords, loadRecord } from './records.ts';
import { replayRecord } from './replay.ts';

const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') } } });

type Setting = Pick<AfibParams, 'onsetScore' | 'onsetStretchScore' | 'weakEvidenceMs' | 'entropyThreshold' | 'entropyEvidenceMs'>;
const grid: Setting[] = [];
for (const onsetScore of [AFIB_DEFAULTS.irregularityThreshold, 1.0, 1.2]) {
  for (const onsetStretchScore of [1.2, Infinity]) {
    for (const weakEvidenceMs of [30_000, 120_000, 180_000]) {
      // entropyThreshold Infinity: no entropy confirmation (the earlier operating point).
      grid.push({ onsetScore, onsetStretchScore, weakEvidenceMs, entropyThreshold: Infinity, entropyEvidenceMs: 30_000 });
      for (const entropyThreshold of [-1.4, -1.2, -1.0, -0.8]) {
        for (const entropyEvidenceMs of [30_000, 45_000, 60_000, 90_000]) grid.push({ onsetScore, onsetStretchScore, weakEvidenceMs, entropyThreshold, entropyEvidenceMs });
      }
    }
  }
}

const dir = join(values.data, 'afdb');
const names = await listRecords(dir);
const scores = new Map<string, EpisodeComparison[]>();
/** Per record and setting: alarm latency of each true alarm, ms (tie-break: earlier alarms). */
const latencies = new Map<string, number[][]>();
for (const name of names) {
  const record = await loadRecord('afdb', dir, name);
  const reference = record.rhythms.filter((r) => r.rhythm === '(AFIB');
  const flutter = record.rhythms.filter((r) => r.rhythm === '(AFL');
  const lat: number[][] = [];
  scores.set(name, grid.map((setting) => {
    const detected = replayRecord(record, [createAfibDetector(setting)]).episodes.filter((e) => e.kind === 'afib');
    lat.push(detected.filter((e) => overlapMs(e, mergeIntervals(reference)) > 0).map((e) => e.latencyMs));
    return compareEpisodes(reference, detected, { startMs: EC57_LEARNING_MS, endMs: record.durationMs, exclusions: flutter, minEpisodeMs: AF_MIN_EPISODE_MS });
  }));
  latencies.set(name, lat);
  process.stderr.write(`  ${name}\n`);
}

const stats = (list: EpisodeComparison[]) => episodeStats(sumComparisons(list));
const worst = (list: EpisodeComparison[]) => { const s = stats(list); return Math.min(s.episodeSe ?? 0, s.episodePp ?? 0, s.durationSe ?? 0, s.durationPp ?? 0); };
const label = (s: Setting) => `onsetScore ${s.onsetScore}, onsetStretchScore ${s.onsetStretchScore}, weakEvidenceMs ${s.weakEvidenceMs}, entropyThreshold ${s.entropyThreshold}, entropyEvidenceMs ${s.entropyEvidenceMs}`;
const fmt = (list: EpisodeComparison[]) => { const s = stats(list); return `ESe ${s.episodeSe?.toFixed(1)}  E+P ${s.episodePp?.toFixed(1)}  DSe ${s.durationSe?.toFixed(1)}  D+P ${s.durationPp?.toFixed(1)}`; };
const lat = (gi: number) => `alarm latency median ${Math.round(medianLatencyMs(names, gi) / 1000)} s, p90 ${Math.round(p90LatencyMs(names, gi) / 1000)} s`;
const medianLatencyMs = (records: string[], gi: number) => {
  const all = records.flatMap((n) => latencies.get(n)![gi]!).sort((a, b) => a - b);
  return all.length ? all[Math.floor(all.length / 2)]! : Infinity;
};
const p90LatencyMs = (records: string[], gi: number) => {
  const all = records.flatMap((n) => latencies.get(n)![gi]!).sort((a, b) => a - b);
  return all.length ? all[Math.min(all.length - 1, Math.floor(0.9 * all.length))]! : Infinity;
};
/**
 * Objective: the worst of the four gross statistics; among settings within 0.05 points of the
 * best, the one whose true alarms come earliest (90th percentile, then median latency).
 */
const best = (records: string[]) => {
  const w = grid.map((_, gi) => worst(records.map((n) => scores.get(n)![gi]!)));
  const top = Math.max(...w);
  const candidates = grid.map((_, gi) => gi).filter((gi) => w[gi]! >= top - 0.05);
  return candidates.reduce((bi, gi) => {
    const d = p90LatencyMs(records, gi) - p90LatencyMs(records, bi) || medianLatencyMs(records, gi) - medianLatencyMs(records, bi);
    return d < 0 ? gi : bi;
  });
};

const all = best(names);
console.log(`best on all ${names.length} records (episodes ≥ 30 s): ${label(grid[all]!)}\n  ${fmt(names.map((n) => scores.get(n)![all]!))}; ${lat(all)}`);
const current = grid.findIndex((g) => g.onsetScore === AFIB_DEFAULTS.onsetScore && g.onsetStretchScore === AFIB_DEFAULTS.onsetStretchScore && g.weakEvidenceMs === AFIB_DEFAULTS.weakEvidenceMs &&
  g.entropyThreshold === AFIB_DEFAULTS.entropyThreshold && g.entropyEvidenceMs === AFIB_DEFAULTS.entropyEvidenceMs);
if (current >= 0) console.log(`production defaults: ${label(grid[current]!)}\n  ${fmt(names.map((n) => scores.get(n)![current]!))}; ${lat(current)}`);
const previous = grid.findIndex((g) => g.onsetScore === 1.2 && g.onsetStretchScore === 1.2 && g.weakEvidenceMs === 180_000 && g.entropyThreshold === Infinity);
console.log(`previous operating point (no entropy confirmation): ${label(grid[previous]!)}\n  ${fmt(names.map((n) => scores.get(n)![previous]!))}; ${lat(previous)}`);
const paper = grid.findIndex((g) => g.onsetScore === AFIB_DEFAULTS.irregularityThreshold && g.onsetStretchScore === Infinity && g.weakEvidenceMs === 30_000 && g.entropyThreshold === Infinity);
console.log(`paper's η alone: ${fmt(names.map((n) => scores.get(n)![paper]!))}; ${lat(paper)}`);
const heldOut: EpisodeComparison[] = [];
const heldOutLatencies: number[] = [];
console.log('leave-one-record-out:');
for (const name of names) {
  const pick = best(names.filter((n) => n !== name));
  heldOut.push(scores.get(name)![pick]!);
  heldOutLatencies.push(...latencies.get(name)![pick]!);
  console.log(`  without ${name}: ${label(grid[pick]!)}`);
}
heldOutLatencies.sort((a, b) => a - b);
const at = (p: number) => Math.round(heldOutLatencies[Math.min(heldOutLatencies.length - 1, Math.floor(p * heldOutLatencies.length))]! / 1000);
console.log(`held-out gross: ${fmt(heldOut)}; alarm latency median ${at(0.5)} s, p90 ${at(0.9)} s`);
