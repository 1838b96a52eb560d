import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseSetting, extraDetectionShares, leaveOneRecordOut, scoreRecord, type AfRecordScores } from '../../eval/af-loro.ts';
import { loadRecord } from '../../eval/records.ts';
import type { ReferenceBeat, ReferenceRecord } from '../../eval/records.ts';
import { classifyMeasured, loadCinc2017, scoreCinc2017 } from '../../eval/cinc2017.ts';
import { afdbLoro, cincAfIntervals, crossValidate, loroInterval } from '../../eval/af-generalisation.ts';
import { wilsonInterval } from '../../eval/confidence.ts';
import { formatCinc2017Streaming, streamStrip } from '../../eval/cinc2017-stream.ts';
import { evaluationDetectors } from '../../eval/detector-set.ts';
import type { AfStripMeasures } from '../../processor/detectors/afib.ts';
import type { EpisodeComparison } from '../../eval/epicmp.ts';

/** An episode comparison with `tp` detected / `fn` missed reference episodes and `fp` false alarms. */
const cmp = (tp: number, fn: number, fp: number): EpisodeComparison => ({ tpSe: tp, fn, tpPp: tp, fp, overlapSeMs: tp * 60_000, overlapPpMs: tp * 60_000, refDurationMs: (tp + fn) * 60_000, testDurationMs: (tp + fp) * 60_000 });

describe('AF leave-one-record-out (eval/af-loro.ts)', () => {
  // Candidate 0 is right for records a–c; candidate 1 only suits record d (and hurts the others).
  const records: AfRecordScores[] = [
    { name: 'a', comparisons: [cmp(10, 0, 0), cmp(10, 0, 5)], latenciesMs: [[30_000], [30_000]] },
    { name: 'b', comparisons: [cmp(10, 0, 0), cmp(10, 0, 5)], latenciesMs: [[30_000], [30_000]] },
    { name: 'c', comparisons: [cmp(10, 0, 0), cmp(10, 0, 5)], latenciesMs: [[30_000], [30_000]] },
    { name: 'd', comparisons: [cmp(0, 10, 0), cmp(10, 0, 0)], latenciesMs: [[], [30_000]] },
  ];

  it('never scores a record with a setting chosen on it', () => {
    const loro = leaveOneRecordOut(records, 2);
    // Without d, candidate 0 is perfect on a–c: d is scored with candidate 0 and misses everything.
    expect(loro.folds.find((f) => f.name === 'd')!.chosen).toBe(0);
    expect(loro.heldOut.fn).toBe(10);
    // In sample, candidate 1 (every episode found, 15 false alarms) loses to candidate 0 on min(ESe, E+P):
    // candidate 0: ESe 30/40 = 75 %, E+P 100 %; candidate 1: ESe 100 %, E+P 40/55 = 72.7 % → 0.
    expect(loro.chosenOnAll).toBe(0);
    expect(loro.heldOut.tpSe + loro.heldOut.fn).toBe(40);
  });

  // The AF alarm's 2-min off-delay (afib.ts offDelayMs) merges alarms and so moved the objective's
  // E+P mechanically: with it on, the folds left the production setting (EVALUATION.md §2, "Off-delay").
  it('scores the detector\'s episodes: the alarm off-delay is off unless a candidate sets it', async () => {
    const record = await loadRecord('afdb', resolve(import.meta.dirname, '../../../shared/data/ecg/afdb'), '06453');
    const [detector, alarms] = scoreRecord(record, [{}, { offDelayMs: 120_000 }]).comparisons;
    // 06453's 151 s episode: two detector episodes 34 s apart, one alarm with the off-delay.
    expect(detector!.tpPp + detector!.fp).toBe(alarms!.tpPp + alarms!.fp + 1);
  });

  it('does not trade the duration Se of long episodes for episode +P: a setting that alarms a long episode late loses', () => {
    // Candidate 1 has no false alarm (E+P 100 %) but covers only half of the reference AF (it
    // alarms the long episode late); candidate 0 has one false episode in 11 (E+P 90.9 %).
    const late = (c: EpisodeComparison): EpisodeComparison => ({ ...c, overlapSeMs: c.overlapSeMs / 2, overlapPpMs: c.overlapPpMs / 2, testDurationMs: c.testDurationMs / 2 });
    const records: AfRecordScores[] = [{ name: 'a', comparisons: [cmp(10, 0, 1), late(cmp(10, 0, 0))], latenciesMs: [[30_000], [30_000]] }];
    expect(chooseSetting(records, 2)).toBe(0);
  });

  it('gives the held-out figures an interval from resampling whole records: d, which the setting chosen without it misses, is what widens it', () => {
    const loro = leaveOneRecordOut(records, 2);
    // Held out: a–c find all 30, d misses its 10 → ESe 75 %; a resample without d finds all.
    const se = loroInterval(loro, 'episodeSe')!;
    expect(se.high).toBe(100);
    expect(se.low).toBeLessThan(75);
    // a–c are each scored with candidate 1 (chosen on the other three, where d tips it): 10 of
    // 15 alarms right in each record, d raises none — +P is 66.7 % in every resample with alarms.
    expect(loroInterval(loro, 'episodePp')).toEqual({ low: 200 / 3, high: 200 / 3 });
  });

  it('breaks ties by the duration statistics, then by earlier alarms', () => {
    const tie: AfRecordScores[] = [
      { name: 'a', comparisons: [cmp(10, 0, 0), cmp(10, 0, 0)], latenciesMs: [[60_000], [31_000]] },
    ];
    expect(chooseSetting(tie, 2)).toBe(1);
  });

  it('gives the same folds, scores and shares on worker threads as in-process (afdb records, two candidates)', async () => {
    const data = resolve(import.meta.dirname, '../../../shared/data/ecg');
    const candidates = [{ entropyThreshold: -0.7 }, { entropyThreshold: -0.4, stretchGapBeats: 8 }];
    const records = ['04048', '07910', '08405'];
    const inProcess = await afdbLoro(data, candidates, records, 0);
    const onWorkers = await afdbLoro(data, candidates, records, 2);
    expect(inProcess.loro.folds.map((f) => f.name)).toEqual(records);
    expect(inProcess.loro.heldOut.tpSe).toBeGreaterThan(0);
    expect(onWorkers).toEqual(inProcess);
  });
});

describe('extra-detection shares (the measurement behind the merger)', () => {
  it('counts merged intervals per 64-interval window, inside reference AF and outside it, after the 5-minute learning period', () => {
    // 6 min of 800 ms sinus, then 6 min where every 4th interval is split 300/500 by a false
    // detection (labelled sinus), then 6 min of "AF" cycling through intervals that never add up
    // to the usual one.
    const beats: ReferenceBeat[] = [{ timeMs: 0, cls: 'N' }];
    const add = (rr: number) => beats.push({ timeMs: beats.at(-1)!.timeMs + rr, cls: 'N' });
    while (beats.at(-1)!.timeMs < 360_000) add(800);
    for (let i = 0; beats.at(-1)!.timeMs < 720_000; i++) { if (i % 4 === 0) { add(300); add(500); } else add(800); }
    const afStart = beats.at(-1)!.timeMs;
    const cycle = [700, 560, 900, 640, 820, 610];
    for (let i = 0; beats.at(-1)!.timeMs < 1_080_000; i++) add(cycle[i % cycle.length]!);
    const record: ReferenceRecord = { database: 'afdb', name: 'synthetic', fsHz: 250, durationMs: 1_080_000, beats, beatSource: 'qrs',
      rhythms: [{ rhythm: '(N', startMs: 0, endMs: afStart }, { rhythm: '(AFIB', startMs: afStart, endMs: 1_080_000 }] };
    const shares = extraDetectionShares(record);
    expect(shares.af.length).toBeGreaterThan(0);
    expect(shares.af.every((s) => s === 0)).toBe(true);
    // Outside AF: the clean sinus after 5 min (0) and the split stretch (2 of every 5 intervals).
    expect(Math.max(...shares.nonAf)).toBeCloseTo(0.4, 1);
    expect(shares.nonAf).toContain(0);
    expect(extraDetectionShares(record, 0).nonAf.every((s) => s === 0)).toBe(true);
  });
});

describe('CinC 2017 scoring (the Challenge per-class F1)', () => {
  it('F1 = 2·T / (row sum + column sum) per class; Se/+P of AF from the same matrix', () => {
    const results = [
      ...Array.from({ length: 8 }, () => ({ label: 'N' as const, predicted: 'N' as const })),
      ...Array.from({ length: 2 }, () => ({ label: 'N' as const, predicted: 'O' as const })),
      ...Array.from({ length: 3 }, () => ({ label: 'A' as const, predicted: 'A' as const })),
      { label: 'A' as const, predicted: 'N' as const },
      { label: 'O' as const, predicted: 'A' as const },
      { label: '~' as const, predicted: 'O' as const },
    ];
    const s = scoreCinc2017(results);
    // N: row 10, column 9, T 8 → 16/19. A: row 4, column 4, T 3 → 6/8. O: row 1, column 3, T 0.
    expect(s.f1.N).toBeCloseTo(16 / 19, 10);
    expect(s.f1.A).toBeCloseTo(0.75, 10);
    expect(s.f1.O).toBe(0);
    expect(s.f1NAO).toBeCloseTo((16 / 19 + 0.75 + 0) / 3, 10);
    expect(s.afSe).toBeCloseTo(75, 10);
    expect(s.afPp).toBeCloseTo(75, 10);
    // The 95 % intervals count the AF strips (3 of 4 found) and the strips called AF (3 of 4 right).
    expect(cincAfIntervals(s)).toEqual({ se: wilsonInterval(3, 4), pp: wilsonInterval(3, 4) });
  });
});

describe('CinC 2017 strip class (eval/cinc2017.ts classifyMeasured)', () => {
  const strip = { name: 's', label: 'N' as const, fsHz: 300, uV: new Int16Array(0), beats: [] };
  // A regular strip at 75 bpm (stretch score and COSEn far below the AF gates).
  const regular = (coherence: number): AfStripMeasures => ({ hrBpm: 75, stretchScore: 0.1, cosen: -3, pWaveCoherence: coherence, fWaveFraction: Number.NaN, intervals: 40, windows: 30, rrMs: [] });

  it('calls a regular strip N only when its P wave is not measured absent, at the AF decision\'s own limit', () => {
    expect(classifyMeasured(strip, regular(0.9)).predicted).toBe('N');
    // No consistent P wave before a regular QRS: not sinus rhythm (junctional, flutter), so O, not N.
    expect(classifyMeasured(strip, regular(0.3)).predicted).toBe('O');
    // Too few usable beats to measure it, or RR only: the RR rule decides.
    expect(classifyMeasured(strip, regular(Number.NaN)).predicted).toBe('N');
    // The limit is the setting's pWaveCoherenceMax, the one the AF decision uses.
    expect(classifyMeasured(strip, regular(0.3), { pWaveCoherenceMax: 0.25 }).predicted).toBe('N');
    expect(classifyMeasured(strip, regular(0.6), { pWaveCoherenceMax: 0.7 }).predicted).toBe('O');
  });
});

describe('CinC 2017 nested cross-validation (eval/af-generalisation.ts crossValidate)', () => {
  // Ten irregular strips (5 AF, 5 normal), one of each per fold (stratified round-robin). Only the
  // P-wave coherence differs. Limit 0.42 is right on folds 1–4 (AF 0.40 < 0.42 ≤ normal 0.45);
  // fold 0 is the odd one (its AF strip at 0.44, its normal strip at 0.30), which limit 0.5 suits.
  const strip = (name: string, label: 'A' | 'N') => ({ name, label, fsHz: 300, uV: new Int16Array(0), beats: [] });
  const measures = (coherence: number): AfStripMeasures => ({ hrBpm: 80, stretchScore: 1, cosen: -2, pWaveCoherence: coherence, fWaveFraction: Number.NaN, intervals: 40, windows: 30, rrMs: [] });
  const strips = [0, 1, 2, 3, 4].flatMap((i) => [strip(`a${i}`, 'A'), strip(`n${i}`, 'N')]);
  const measured = [0, 1, 2, 3, 4].flatMap((i) => (i === 0 ? [measures(0.44), measures(0.3)] : [measures(0.4), measures(0.45)]));
  const candidates = [{ pWaveCoherenceMax: 0.5 }, { pWaveCoherenceMax: 0.42 }];

  it('scores each fold with the setting chosen on the other folds, never on itself', () => {
    const cv = crossValidate(strips, measured, candidates, {}, 5);
    // Folds 1–4 are each scored with a choice that includes fold 0's strips, 0.42 still wins there
    // (3 of 4 training folds prefer it); fold 0 is scored with 0.42, chosen without it, and fails.
    expect(cv.foldSettings.map((s) => s.pWaveCoherenceMax)).toEqual([0.42, 0.42, 0.42, 0.42, 0.42]);
    expect(cv.results.find((r) => r.name === 'a0')!.predicted).not.toBe('A');
    expect(cv.results.find((r) => r.name === 'n0')!.predicted).toBe('A');
    expect(cv.score.afSe).toBeCloseTo(80, 10);
    expect(cv.score.afPp).toBeCloseTo(80, 10);
    // Had fold 0 been scored with a setting chosen on itself, limit 0.5 would have found a0.
    const inSample = crossValidate(strips.slice(0, 2), measured.slice(0, 2), candidates, {}, 1);
    expect(inSample.settingOnAll.pWaveCoherenceMax).toBe(0.5);
  });
});

describe('CinC 2017 folder (eval/cinc2017.ts)', () => {
  it('reads the strips REFERENCE.csv lists that are in the folder, and skips the others (a subset with the full REFERENCE.csv)', async () => {
    const from = resolve(import.meta.dirname, '../../../shared/data/ecg/cinc2017');
    const dir = await mkdtemp(join(tmpdir(), 'cinc2017-'));
    try {
      for (const name of ['A00001', 'A00004']) for (const ext of ['hea', 'mat']) await copyFile(join(from, `${name}.${ext}`), join(dir, `${name}.${ext}`));
      await writeFile(join(dir, 'REFERENCE.csv'), 'A00001,N\nA00002,N\nA00004,A\nA09999,O\n');
      const strips = await loadCinc2017(dir);
      expect(strips.map((s) => [s.name, s.label])).toEqual([['A00001', 'N'], ['A00004', 'A']]);
      expect(strips.every((s) => s.beats.length > 5)).toBe(true);
      // A header line and CRLF line ends are read too; an unknown label after the first line is an error.
      await writeFile(join(dir, 'REFERENCE.csv'), 'record,label\r\nA00001,N\r\nA00004,A\r\n');
      expect((await loadCinc2017(dir)).map((s) => [s.name, s.label])).toEqual([['A00001', 'N'], ['A00004', 'A']]);
      await writeFile(join(dir, 'REFERENCE.csv'), 'A00001,N\nA00004,X\n');
      await expect(loadCinc2017(dir)).rejects.toThrow(/unknown label X for A00004/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('CinC 2017 strips as ECG-only devices (eval/cinc2017-stream.ts)', () => {
  it('replays a strip through the production path: the 60 s AF strip A00005 raises afib, the 60 s sinus strip A00037 does not', async () => {
    const strips = await loadCinc2017(resolve(import.meta.dirname, '../../../shared/data/ecg/cinc2017'), ['A00005', 'A00037']);
    const [af, sinus] = strips.map((s) => streamStrip(s, evaluationDetectors()));
    expect({ name: af!.name, label: af!.label, durationMs: af!.durationMs, afib: af!.onsetsS.afib?.length }).toEqual({ name: 'A00005', label: 'A', durationMs: 60_000, afib: 1 });
    expect({ name: sinus!.name, label: sinus!.label, afib: sinus!.onsetsS.afib }).toEqual({ name: 'A00037', label: 'N', afib: undefined });
    // The AF onset is back-dated into the strip, and the alarm is counted in the summary line.
    expect(af!.onsetsS.afib![0]).toBeLessThan(30);
    expect(formatCinc2017Streaming([af!, sinus!])).toContain('AF alarm on the AF strips of ≥ 50 s (long enough for the 30 s criterion): 1 of 1');
  });
});
