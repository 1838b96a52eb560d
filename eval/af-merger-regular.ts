/**
 * Does the AF detector's extra-detection merger (rr-irregularity.ts `ExtraDetectionMerger`) read a
 * regular fast rhythm — 2:1 atrial flutter, sinus tachycardia, SVT at 120–200/min — as pairs of
 * extra detections splitting beats of twice the interval? Each case runs through the production
 * detection path (eval/replay.ts: 1 s frames → PatientStream → the evaluation detector set),
 * once as in production and once with the merger off (`extraDetectionTolerance: 0`), and counts:
 * intervals merged (a copy of the merger fed as the detector feeds it), AF alarms, their ends and
 * the rate their evidence reports.
 *
 *   node eval/af-merger-regular.ts [--data DIR]
 *
 * Cases (synthetic, seeded; jitter Gaussian):
 *  A. 10 min of a regular rhythm at 120–200/min, jitter SD 5/10/20 ms, with and without ectopy
 *     (one beat in 40 early: alternately an atrial premature beat, 0.7 × RR then a 1.1 × RR
 *     return, and a PVC, 0.65 × then 1.35 × RR).
 *  B. 5 min sinus at half the rate (≈ 2 × the interval), then 10 min of the fast regular rhythm
 *     (abrupt SVT onset, 4:1 → 2:1 flutter): the merger's reference is then the slow interval.
 *  C. 5 min sinus at 75/min, 5 min of AF (independent intervals, uniform ± 35 % of a mean of
 *     k × the fast interval, k = 1.6 … 2.4), then 6 min of the regular rhythm (AF turning into 2:1 flutter; afdb 04908):
 *     when does the AF alarm end, what rate does it report, is "consider atrial flutter" said.
 *  D. 5 min sinus at 75/min, 3 min of regular 150/min, then 5 min of fast AF (mean 400 ms): does
 *     the merger hide or halve AF after a fast regular rhythm it has taken for merged pairs.
 * And afdb (reference rhythm `(AFL`): intervals merged inside flutter, AF alarms overlapping it,
 * and the end of each AF alarm whose reference AF runs into flutter.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BeatClass } from '../contracts/telemetry.ts';
import { createPrng, gaussian, uniform, type RandomSource } from '../device-sim/prng.ts';
import { AFIB_DEFAULTS, type AfibParams } from '../processor/detectors/afib.ts';
import { ExtraDetectionMerger } from '../processor/detectors/rr-irregularity.ts';
import { evaluationDetectors } from './detector-set.ts';
import { fileExists, listRecords, loadRecord, type ReferenceBeat, type ReferenceRecord, type RhythmEpisode } from './records.ts';
import { replayRecord, type DetectedEpisode } from './replay.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(repoRoot, '../shared/data/ecg') } } });

type Next = (random: RandomSource) => { rrMs: number; cls: BeatClass }[];

/** A regular rhythm at `rrMs` with Gaussian jitter; with `ectopyEvery`, one beat in that many is early (APC and PVC alternately). */
function regular(rrMs: number, sdMs: number, ectopyEvery = 0): Next {
  let n = 0;
  let apc = true;
  const jit = (random: RandomSource, x: number) => Math.round(x + sdMs * gaussian(random));
  return (random) => {
    n++;
    if (ectopyEvery > 0 && n % ectopyEvery === 0) {
      apc = !apc;
      return !apc
        ? [{ rrMs: jit(random, 0.7 * rrMs), cls: 'S' }, { rrMs: jit(random, 1.1 * rrMs), cls: 'N' }]
        : [{ rrMs: jit(random, 0.65 * rrMs), cls: 'V' }, { rrMs: jit(random, 1.35 * rrMs), cls: 'N' }];
    }
    return [{ rrMs: jit(random, rrMs), cls: 'N' }];
  };
}

/** AF-like intervals: independent, uniform within ± 35 % of `meanMs`. */
const af = (meanMs: number): Next => (random) => [{ rrMs: Math.round(uniform(random, 0.65 * meanMs, 1.35 * meanMs)), cls: 'N' }];

/** A synthetic record of consecutive rhythm segments. */
function synth(name: string, seed: number, segments: { rhythm: string; durationMs: number; next: Next }[]): ReferenceRecord {
  const random = createPrng(seed);
  const beats: ReferenceBeat[] = [{ timeMs: 0, cls: 'N' }];
  const rhythms: RhythmEpisode[] = [];
  let t = 0;
  for (const s of segments) {
    const startMs = t;
    while (t - startMs < s.durationMs) for (const b of s.next(random)) beats.push({ timeMs: (t += b.rrMs), cls: b.cls });
    rhythms.push({ rhythm: s.rhythm, startMs, endMs: t });
  }
  return { database: 'afdb', name, fsHz: 250, durationMs: t + 1000, beats, rhythms, beatSource: 'synthetic' };
}

/** End times of the intervals the production merger merges, fed as the AF detector feeds it (afib.ts `#take`). */
function mergedTimes(record: ReferenceRecord): number[] {
  const merger = new ExtraDetectionMerger(AFIB_DEFAULTS.extraDetectionTolerance, AFIB_DEFAULTS.windowBeats, AFIB_DEFAULTS.minPlausibleRrMs);
  const sv = (c: BeatClass) => c === 'N' || c === 'S';
  const out: number[] = [];
  for (let i = 1; i < record.beats.length; i++) {
    const b = record.beats[i]!;
    const released = !sv(b.cls) || !sv(record.beats[i - 1]!.cls) ? merger.flush() : merger.push(b.timeMs, b.timeMs - record.beats[i - 1]!.timeMs);
    for (const r of released) if (r.merged) out.push(r.timeMs);
  }
  return out;
}

const OFF: Partial<AfibParams> = { extraDetectionTolerance: 0 };
const afAlarms = (record: ReferenceRecord, override?: Partial<AfibParams>): DetectedEpisode[] =>
  replayRecord(record, evaluationDetectors(override)).episodes.filter((e) => e.kind === 'afib');

const s = (ms: number) => (ms / 1000).toFixed(0);
const alarmText = (list: DetectedEpisode[]) =>
  list.length === 0 ? 'none' : list.map((e) => `${s(e.startMs)}–${e.ended ? s(e.endMs) : 'open'} s, ${e.alert.evidence.hrBpm}/min${e.alert.evidence.endNote ? ` "${e.alert.evidence.endNote}"` : ''}`).join('; ');
const inRange = (times: number[], from: number, to: number) => times.filter((t) => t >= from && t < to).length;
const intervalsIn = (r: ReferenceRecord, from: number, to: number) => r.beats.filter((b) => b.timeMs >= from && b.timeMs < to).length;

const rates = [120, 130, 150, 170, 200];
const sds = [5, 10, 20];

console.log('## A. Regular rhythm alone, 10 min (merged intervals / intervals; AF alarms production | merger off)\n');
console.log('| rate /min | jitter SD ms | ectopy | merged | AF alarms | AF alarms, merger off |');
console.log('|---|---|---|---|---|---|');
let seed = 1;
for (const rate of rates) for (const sd of sds) for (const ectopy of [0, 40]) {
  const rec = synth(`A-${rate}-${sd}-${ectopy}`, seed++, [{ rhythm: '(SVTA', durationMs: 600_000, next: regular(60_000 / rate, sd, ectopy) }]);
  console.log(`| ${rate} | ${sd} | ${ectopy ? '1/40' : '–'} | ${mergedTimes(rec).length} / ${rec.beats.length - 1} | ${alarmText(afAlarms(rec))} | ${alarmText(afAlarms(rec, OFF))} |`);
}

console.log('\n## B. Sinus at half the rate (5 min), then the fast regular rhythm (10 min)\n');
console.log('| fast rate /min | jitter SD ms | ectopy | merged in the fast rhythm | AF alarms | AF alarms, merger off |');
console.log('|---|---|---|---|---|---|');
for (const rate of rates) for (const sd of sds) for (const ectopy of [0, 40]) {
  const rr = 60_000 / rate;
  const rec = synth(`B-${rate}-${sd}-${ectopy}`, seed++, [
    { rhythm: '(N', durationMs: 300_000, next: regular(2 * rr, sd, ectopy) },
    { rhythm: '(SVTA', durationMs: 600_000, next: regular(rr, sd, ectopy) },
  ]);
  const fast = rec.rhythms[1]!;
  console.log(`| ${rate} | ${sd} | ${ectopy ? '1/40' : '–'} | ${inRange(mergedTimes(rec), fast.startMs, fast.endMs)} / ${intervalsIn(rec, fast.startMs, fast.endMs)} | ${alarmText(afAlarms(rec))} | ${alarmText(afAlarms(rec, OFF))} |`);
}

console.log('\n## C. Sinus 75/min (5 min), AF (5 min, mean k × the fast interval), then the regular fast rhythm (6 min): AF turning into 2:1 flutter\n');
console.log('AF alarm end − reference AF end, the rate the AF alarm reports (its evidence; the AF\'s own mean rate in brackets) and whether the end says "consider atrial flutter": production / merger off.\n');
console.log('| fast rate /min | k | jitter SD ms | merged in AF | merged in the regular rhythm | AF alarms | end error s | AF alarm rate /min (AF\'s own) | flutter note |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const rate of [130, 150, 170]) for (const k of [1.6, 1.8, 2.0, 2.2, 2.4]) for (const sd of [5, 20]) {
  const rr = 60_000 / rate;
  const rec = synth(`C-${rate}-${k}-${sd}`, seed++, [
    { rhythm: '(N', durationMs: 300_000, next: regular(800, 20) },
    { rhythm: '(AFIB', durationMs: 300_000, next: af(k * rr) },
    { rhythm: '(AFL', durationMs: 360_000, next: regular(rr, sd) },
  ]);
  const [, afib, flutter] = rec.rhythms as [RhythmEpisode, RhythmEpisode, RhythmEpisode];
  const m = mergedTimes(rec);
  const runs = [afAlarms(rec), afAlarms(rec, OFF)];
  const last = runs.map((r) => r.at(-1));
  const both = (f: (e: DetectedEpisode) => string) => last.map((e) => (e ? f(e) : '–')).join(' / ');
  const afRate = Math.round((60_000 * intervalsIn(rec, afib.startMs, afib.endMs)) / (afib.endMs - afib.startMs));
  console.log(`| ${rate} | ${k} | ${sd} | ${inRange(m, afib.startMs, afib.endMs)} / ${intervalsIn(rec, afib.startMs, afib.endMs)} | ${inRange(m, flutter.startMs, flutter.endMs)} / ${intervalsIn(rec, flutter.startMs, flutter.endMs)} | ${runs.map((r) => r.length).join(' / ')} | ${both((e) => (e.ended ? `${e.endMs - afib.endMs >= 0 ? '+' : ''}${s(e.endMs - afib.endMs)}` : 'open'))} | ${both((e) => String(e.alert.evidence.hrBpm))} (${afRate}) | ${both((e) => (e.alert.evidence.endNote?.includes('flutter') ? 'yes' : 'no'))} |`);
}

console.log('\n## D. Sinus 75/min (5 min), regular 150/min (3 min), then fast AF, mean 400 ms (5 min; from 480 s) — and the same without the regular 150/min\n');
console.log('| case | merged in the AF | AF alarm | AF alarm, merger off |');
console.log('|---|---|---|---|');
for (const withFast of [true, false]) for (const sd of [5, 20]) {
  const rec = synth(`D-${withFast}-${sd}`, seed++, [
    { rhythm: '(N', durationMs: 300_000, next: regular(800, sd) },
    ...(withFast ? [{ rhythm: '(SVTA', durationMs: 180_000, next: regular(400, sd) }] : []),
    { rhythm: '(AFIB', durationMs: 300_000, next: af(400) },
    { rhythm: '(N', durationMs: 300_000, next: regular(800, sd) },
  ]);
  const a = rec.rhythms.find((r) => r.rhythm === '(AFIB')!;
  console.log(`| ${withFast ? '75 → 150 regular → AF' : '75 → AF'}, SD ${sd} ms, AF ${s(a.startMs)}–${s(a.endMs)} s | ${inRange(mergedTimes(rec), a.startMs, a.endMs)} / ${intervalsIn(rec, a.startMs, a.endMs)} | ${alarmText(afAlarms(rec))} | ${alarmText(afAlarms(rec, OFF))} |`);
}

const afdbDir = resolve(values.data, 'afdb');
if (await fileExists(afdbDir)) {
  console.log('\n## afdb: reference atrial flutter `(AFL` (automated .qrs beats)\n');
  console.log('| record | flutter stretch s | its mean rate /min | merged / intervals in it | AF alarms overlapping it | the same, merger off | AF alarm ending into it (reference AF end → alarm end), production | merger off |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const name of await listRecords(afdbDir)) {
    const rec = await loadRecord('afdb', afdbDir, name);
    const flutters = rec.rhythms.filter((r) => r.rhythm === '(AFL');
    if (flutters.length === 0) continue;
    const m = mergedTimes(rec);
    const prod = afAlarms(rec);
    const off = afAlarms(rec, OFF);
    for (const f of flutters) {
      const n = intervalsIn(rec, f.startMs, f.endMs);
      const overl = (list: DetectedEpisode[]) => list.filter((e) => e.startMs < f.endMs && e.endMs > f.startMs).map((e) => `${s(e.startMs)}–${s(e.endMs)}`).join(', ') || 'none';
      const before = rec.rhythms.find((r) => r.endMs === f.startMs);
      // The AF alarm that covers the reference AF's end, when AF runs straight into this flutter.
      const ending = (list: DetectedEpisode[]) => {
        if (before?.rhythm !== '(AFIB') return '–';
        const e = list.find((x) => x.startMs <= before.endMs && x.endMs >= before.endMs - 60_000);
        return e ? `${s(before.endMs)} → ${s(e.endMs)} (${e.endMs - before.endMs >= 0 ? '+' : ''}${s(e.endMs - before.endMs)} s)${e.alert.evidence.endNote ? ' note' : ''}` : 'no alarm';
      };
      console.log(`| ${name} | ${s(f.startMs)}–${s(f.endMs)} | ${n > 1 ? Math.round((60_000 * (n - 1)) / (f.endMs - f.startMs)) : '–'} | ${inRange(m, f.startMs, f.endMs)} / ${n} | ${overl(prod)} | ${overl(off)} | ${ending(prod)} | ${ending(off)} |`);
    }
  }
}
