/**
 * The consecutive-complex similarity of a ventricular run (complex-similarity.ts) and its use by
 * the vt detector (vt.ts `similarityMin`): with ECG, a run of beats labelled `V` whose complexes
 * are unlike one another — noise bursts read as ventricular beats — raises no VT alarm, a run of
 * alike complexes does, and without ECG the beats decide as before.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ALARM_CRITERIA } from '../../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../../contracts/telemetry.ts';
import { readWfdbRecord } from '../../../device-sim/wfdb-record.ts';
import { ecgOnlyFrames } from '../../../eval/qrs.ts';
import { detectorsForCriteria } from '../../../processor/detector-set.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../../../processor/ecg-beats.ts';
import { consecutiveComplexSimilarity } from '../../../processor/detectors/complex-similarity.ts';
import type { EpisodeChange } from '../../../processor/detectors/detector.ts';
import { createVtDetector, VT_DEFAULTS } from '../../../processor/detectors/vt.ts';
import { PatientStream } from '../../../processor/patient-stream.ts';

const FS = 250;
const T0 = Date.UTC(2026, 0, 1);
/** A wide ventricular complex: Gaussian waves [ms from R, µV, sd ms]. */
const WIDE: [number, number, number][] = [[0, -1400, 28], [40, 300, 25], [250, 500, 50]];

const wave = (x: Float64Array, rMs: number, waves: readonly [number, number, number][]) => {
  for (let i = Math.max(0, Math.floor(((rMs - 600) * FS) / 1000)); i < Math.min(x.length, Math.ceil(((rMs + 600) * FS) / 1000)); i++) {
    for (const [at, uV, sd] of waves) x[i]! += uV * Math.exp(-((((i * 1000) / FS - rMs - at) / sd) ** 2) / 2);
  }
};
/** Ventricular-looking complexes of different shapes (what artefact read as wide beats looks like from beat to beat). */
const UNLIKE: [number, number, number][][] = [
  WIDE,
  [[0, 1200, 30], [60, -600, 25]],
  [[-40, -700, 20], [20, 900, 20], [90, -500, 30]],
  [[20, -900, 30], [100, 700, 30]],
];
const sample = (x: Float64Array) => (i: number) => (i >= 0 && i < x.length ? x[i]! : Number.NaN);
const peaksAt = (ms: readonly number[]) => ms.map((t) => Math.round((t * FS) / 1000));

describe('consecutive complex similarity', () => {
  const times = [2000, 2400, 2800, 3200, 3600];

  it('is 1 for identical complexes, also when the R peaks are placed up to 30 ms off, and low for complexes of different shapes', () => {
    const x = new Float64Array(6 * FS);
    for (const t of times) wave(x, t, WIDE);
    expect(consecutiveComplexSimilarity(sample(x), FS, peaksAt(times))).toBeGreaterThan(0.99);
    // a biphasic complex's fiducial may sit on either phase: every other R peak placed 28 ms late
    expect(consecutiveComplexSimilarity(sample(x), FS, peaksAt(times.map((t, i) => t + (i % 2 ? 28 : 0))))).toBeGreaterThan(0.99);
    const unlike = new Float64Array(6 * FS);
    times.forEach((t, i) => wave(unlike, t, UNLIKE[i % UNLIKE.length]!));
    expect(consecutiveComplexSimilarity(sample(unlike), FS, peaksAt(times))).toBeLessThan(0.3);
  });

  it('is NaN when the ECG does not hold every complex (before its start, or the last one not yet streamed)', () => {
    const x = new Float64Array(6 * FS);
    for (const t of times) wave(x, t, WIDE);
    expect(consecutiveComplexSimilarity(sample(x.subarray(0, Math.round(3.7 * FS))), FS, peaksAt(times))).toBeNaN();
    expect(consecutiveComplexSimilarity(sample(x), FS, peaksAt([50, 450]))).toBeNaN();
    expect(consecutiveComplexSimilarity(sample(x), FS, peaksAt([2000]))).toBeNaN();
  });
});

describe('the vt detector with the similarity check', () => {
  /**
   * 12 s: `V` beats every 400 ms from 4 s to 7.2 s (9 beats), sinus `N` beats every 800 ms around
   * them, as 1 s frames; the ECG per `complex` (alike: one ventricular shape; unlike: four in turn).
   */
  function recording(complex: 'alike' | 'unlike'): { frames: TelemetryFrame[]; ecg: Float64Array } {
    const x = new Float64Array(12 * FS);
    const beats: { t: number; cls: 'N' | 'V' }[] = [];
    for (let t = 400; t < 4000; t += 800) beats.push({ t, cls: 'N' });
    for (let t = 4000; t <= 7200; t += 400) beats.push({ t, cls: 'V' });
    for (let t = 8000; t < 12_000; t += 800) beats.push({ t, cls: 'N' });
    beats.forEach((b, i) => wave(x, b.t, b.cls === 'N' ? [[0, 1100, 9], [280, 280, 45]] : complex === 'alike' ? WIDE : UNLIKE[i % UNLIKE.length]!));
    const frames = Array.from({ length: 12 }, (_, s): TelemetryFrame => {
      const inFrame: TelemetryFrame['beats'] = beats.flatMap((b, i) => (b.t >= s * 1000 && b.t < (s + 1) * 1000 ? [{ off: b.t - s * 1000, rr: i > 0 ? b.t - beats[i - 1]!.t : 0, cls: b.cls }] : []));
      return { seq: s, ts: T0 + s * 1000, durMs: 1000, hr: 0, battery: 90, leadOff: false, beats: inFrame };
    });
    return { frames, ecg: x };
  }
  const chunk = (x: Float64Array, s: number) => ({ startMs: T0 + s * 1000, fsHz: FS, uV: x.subarray(s * FS, (s + 1) * FS) });
  // Beats and the similarity only: the VF-filter evidence (leakageBelow) is another rule (vt-waveform.test.ts).
  const detector = (similarityMin: number) => createVtDetector({ similarityMin, leakageBelow: 0 });
  const onsetsOf = (changes: EpisodeChange[]) => changes.filter((c) => c.kind === 'vt' && c.type === 'onset');

  /**
   * Beats the processor derived from the ECG (an ECG-only device): the ECG reaches the detectors
   * about a second ahead of the beats derived from it, flagged `beatsDerived`, as
   * processor/ecg-beats.ts `detectThroughBeatSource` feeds it.
   */
  const derived = (complex: 'alike' | 'unlike', similarityMin = VT_DEFAULTS.similarityMin) => {
    const { frames, ecg } = recording(complex);
    const stream = new PatientStream('p', 'd', [detector(similarityMin)]);
    stream.feedEcg({ ...chunk(ecg, 0), beatsDerived: true });
    return onsetsOf(frames.flatMap((f, s) => {
      if (s + 1 < 12) stream.feedEcg({ ...chunk(ecg, s + 1), beatsDerived: true });
      return stream.detect(f);
    }));
  };
  /** Firmware beats with the ECG in the same frames. */
  const firmware = (complex: 'alike' | 'unlike') => {
    const { frames, ecg } = recording(complex);
    const stream = new PatientStream('p', 'd', [detector(VT_DEFAULTS.similarityMin)]);
    return onsetsOf(frames.flatMap((f, s) => stream.detect({ ...f, ecg: { fs: FS, uV: Array.from(chunk(ecg, s).uV) } })));
  };

  it('derived beats with alike complexes raise vt at the run\'s first V beat, and the evidence says they were alike', () => {
    const onsets = derived('alike');
    expect(onsets.map((c) => c.onsetMs - T0)).toEqual([4000]);
    expect(onsets[0]!.type === 'onset' && onsets[0]!.evidence.criterion).toMatch(/consecutive complexes alike \(mean correlation (0\.9\d|1\.00) ≥ 0\.3\)/);
  });

  it('derived V beats whose complexes change shape from beat to beat raise nothing — unless the check is off (similarityMin 0)', () => {
    expect(derived('unlike')).toEqual([]);
    expect(derived('unlike', 0).map((c) => c.onsetMs - T0)).toEqual([4000]);
  });

  it('firmware V beats decide as documented (≥ 5 V beats), whatever the ECG in their frames shows', () => {
    expect(firmware('unlike').map((c) => c.onsetMs - T0)).toEqual([4000]);
    expect(firmware('alike').map((c) => c.onsetMs - T0)).toEqual([4000]);
  });
});

describe('a real false VT in artefact (mitdb 108, lead MLII, as an ECG-only device through the production path)', () => {
  it('the run at ≈ 133 s, whose "V" complexes are unlike one another, is not raised; without the check it is', async () => {
    const record = await readWfdbRecord(resolve(import.meta.dirname, '../../../../shared/data/ecg/mitdb/108'), { ecgSignalIndex: 0 });
    const all = [...ecgOnlyFrames(record)];
    const frames = all.filter((f) => f.ts - all[0]!.ts < 180_000);
    const vtOnsets = (similarityMin: number) => {
      const stream = new PatientStream('p', 'd', detectorsForCriteria({ ...DEFAULT_ALARM_CRITERIA, vt: { ...DEFAULT_ALARM_CRITERIA.vt, similarityMin } }));
      const source = new EcgBeatSource();
      return frames.flatMap((f) => detectThroughBeatSource(source, stream, f).changes).filter((c) => c.kind === 'vt' && c.type === 'onset').map((c) => Math.round((c.onsetMs - frames[0]!.ts) / 1000));
    };
    expect(vtOnsets(0)).toEqual([133]);
    expect(vtOnsets(DEFAULT_ALARM_CRITERIA.vt.similarityMin)).toEqual([]);
  });
});
