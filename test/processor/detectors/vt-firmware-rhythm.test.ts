/**
 * The vt detector's firmware-rhythm veto (vt.ts file comment "Firmware rhythm", firmware-rhythm.ts;
 * cardiologist walk finding 8a): a device that sends its own beats and ECG. Motion artefact that
 * the VF filter reads as flutter, while the device's beats march through it as regular `N` below
 * 100/min, raises no vt; a QRS-free oscillation, VF under chaotic or fast firmware beats, and a VT of
 * firmware `V` beats still do.
 */
import { describe, expect, it } from 'vitest';
import type { BeatClass, TelemetryFrame } from '../../../contracts/telemetry.ts';
import { DEFAULT_ALARM_CRITERIA } from '../../../contracts/criteria.ts';
import { detectorsForCriteria } from '../../../processor/detector-set.ts';
import type { EpisodeChange } from '../../../processor/detectors/detector.ts';
import { RecentBeats, REGULAR_RR_SPREAD_MS } from '../../../processor/detectors/firmware-rhythm.ts';
import { createVtDetector, type VtHandover } from '../../../processor/detectors/vt.ts';
import { PatientStream } from '../../../processor/patient-stream.ts';
import { drawBeats, type Wave } from './drawn-beats.ts';

const FS = 250;
const T0 = Date.UTC(2026, 0, 1);
const SINUS: Wave[] = [{ atMs: -170, uV: 120, sdMs: 22 }, { atMs: -28, uV: -90, sdMs: 8 }, { atMs: 0, uV: 1100, sdMs: 9 }, { atMs: 26, uV: -220, sdMs: 9 }, { atMs: 280, uV: 280, sdMs: 45 }];
const VENTRICULAR: Wave[] = [{ atMs: -40, uV: -150, sdMs: 20 }, { atMs: 0, uV: 1400, sdMs: 28 }, { atMs: 70, uV: -400, sdMs: 30 }, { atMs: 320, uV: -350, sdMs: 60 }];
/** A 4.7 Hz oscillation wandering in phase and amplitude, µV: coarse VF, or motion artefact (tooth brushing) of the same shape. */
const oscillation = (uV: number) => (t: number) => uV * Math.sin(2 * Math.PI * 4.7 * t + 0.8 * Math.sin(2 * Math.PI * 0.4 * t)) * (1 + 0.3 * Math.sin(2 * Math.PI * 0.25 * t));

interface FwBeat { tMs: number; cls: BeatClass }

/** Beats every `rrMs` (or by a list of intervals, cycled) from `fromMs` to before `toMs`. */
function beats(fromMs: number, toMs: number, rrMs: number | readonly number[], cls: BeatClass = 'N'): FwBeat[] {
  const list = typeof rrMs === 'number' ? [rrMs] : rrMs;
  const out: FwBeat[] = [];
  for (let t = fromMs, i = 0; t < toMs; t += list[i++ % list.length]!) out.push({ tMs: t, cls });
  return out;
}

/** ECG: each beat drawn (N: sinus complex, V: wide complex), plus `added` over [fromS, toS). */
function ecg(seconds: number, drawn: readonly FwBeat[], added?: { fromS: number; toS: number; f: (t: number) => number }): Float64Array {
  const x = drawBeats(drawn.map((b) => ({ tMs: b.tMs, waves: b.cls === 'V' ? VENTRICULAR : SINUS })), FS, seconds);
  if (added) for (let i = added.fromS * FS; i < added.toS * FS; i++) x[i]! += added.f(i / FS);
  return x;
}

/** 1 s frames carrying the device's beats (`firmware`) and the ECG `x`. */
function frames(x: Float64Array, firmware: readonly FwBeat[]): TelemetryFrame[] {
  const out: TelemetryFrame[] = [];
  for (let s = 0; s * FS < x.length; s++) {
    const inFrame = firmware.map((b, i) => ({ b, i })).filter(({ b }) => b.tMs >= s * 1000 && b.tMs < (s + 1) * 1000);
    out.push({
      seq: s, ts: T0 + s * 1000, durMs: 1000, hr: 75, battery: 90, leadOff: false,
      beats: inFrame.map(({ b, i }) => ({ off: b.tMs - s * 1000, rr: i === 0 ? 0 : b.tMs - firmware[i - 1]!.tMs, cls: b.cls })),
      ecg: { fs: FS, uV: Array.from(x.subarray(s * FS, (s + 1) * FS)) },
    });
  }
  return out;
}

const vtChanges = (list: readonly TelemetryFrame[], detectors = detectorsForCriteria(DEFAULT_ALARM_CRITERIA)): EpisodeChange[] => {
  const stream = new PatientStream('p', 'd', detectors);
  return list.flatMap((f) => stream.detect(f)).filter((c) => c.kind === 'vt');
};
const withoutVeto = () => [createVtDetector({ firmwareRhythmVeto: false })];

/** Sinus at 75/min for 60 s, firmware `N` beats throughout, and 15 s of artefact from 20 s (the walk's mitdb 105 at 22:04, drawn). */
function artefactOverSinus(): TelemetryFrame[] {
  const sinus = beats(200, 60_000, 800);
  return frames(ecg(60, sinus, { fromS: 20, toS: 35, f: oscillation(900) }), sinus);
}

describe('vt waveform rule with firmware beats: the firmware-rhythm veto', () => {
  it('motion artefact over sinus, firmware beats all N at 75/min: vt without the veto (the walk\'s false alarm), nothing with the production defaults', () => {
    const before = vtChanges(artefactOverSinus(), withoutVeto());
    expect(before.map((c) => c.type)).toContain('onset');
    expect(before[0]!.evidence.criterion).toMatch(/^VF-filter leakage/);
    expect(vtChanges(artefactOverSinus())).toEqual([]);
  });

  it('the same at 95/min with sinus arrhythmia inside the band (intervals 600–700 ms): nothing', () => {
    const sinus = beats(200, 60_000, [640, 600, 660, 700, 620]);
    const list = frames(ecg(60, sinus, { fromS: 20, toS: 35, f: oscillation(900) }), sinus);
    expect(vtChanges(list, withoutVeto()).length).toBeGreaterThan(0);
    expect(vtChanges(list)).toEqual([]);
  });

  it('VF after sinus, the firmware sending no beat during it (a QRS-free oscillation): vt from the waveform', () => {
    const sinus = beats(200, 20_000, 800);
    const list = frames(ecg(40, sinus, { fromS: 20, toS: 40, f: oscillation(300) }), sinus);
    const vt = vtChanges(list);
    expect(vt.map((c) => c.type)).toEqual(['onset']);
    expect(vt[0]!.onsetMs).toBeGreaterThanOrEqual(T0 + 18_000);
    expect(vt[0]!.onsetMs).toBeLessThanOrEqual(T0 + 21_000);
  });

  it('VF whose oscillations the firmware counts as N beats faster than 100/min: vt', () => {
    const fw = [...beats(200, 20_000, 800), ...beats(20_200, 40_000, 400)];
    const list = frames(ecg(40, beats(200, 20_000, 800), { fromS: 20, toS: 40, f: oscillation(300) }), fw);
    expect(vtChanges(list).map((c) => c.type)).toEqual(['onset']);
  });

  it('VF under chaotic firmware N beats, slower than 100/min on average but not regular: vt', () => {
    const fw = [...beats(200, 20_000, 800), ...beats(20_300, 40_000, [620, 1150, 700, 980, 640, 1300])];
    const list = frames(ecg(40, beats(200, 20_000, 800), { fromS: 20, toS: 40, f: oscillation(300) }), fw);
    expect(vtChanges(list).map((c) => c.type)).toEqual(['onset']);
  });

  it('artefact in which the firmware misses beats (a beat overdue by more than the band): the window is not vetoed', () => {
    const sinus = beats(200, 60_000, 800);
    // The device's beats stop in the middle of the artefact (24–31 s): the veto has nothing to stand on.
    const fw = sinus.filter((b) => b.tMs < 24_000 || b.tMs >= 31_000);
    const list = frames(ecg(60, sinus, { fromS: 20, toS: 35, f: oscillation(900) }), fw);
    expect(vtChanges(list).map((c) => c.type)).toContain('onset');
  });

  it('VT of firmware V beats at 160/min with its ECG: vt from the beat rule, as before', () => {
    const fw = [...beats(200, 20_000, 800), ...beats(20_200, 30_000, 375, 'V'), ...beats(30_200, 40_000, 800)];
    const vt = vtChanges(frames(ecg(40, fw), fw));
    expect(vt.map((c) => c.type)).toEqual(['onset', 'end']);
    expect(vt[0]!.onsetMs).toBe(T0 + 20_200);
    expect(vt[0]!.evidence.criterion).toMatch(/^≥ 5 consecutive ventricular beats/);
  });

  it('a graceful hand-over in the middle of the artefact carries the device\'s recent beats: the successor vetoes the next window too', () => {
    const list = artefactOverSinus();
    const cut = 27;
    const first = createVtDetector();
    const s1 = new PatientStream('p', 'd', [first]);
    const out = list.slice(0, cut).flatMap((f) => s1.detect(f));
    const state = JSON.parse(JSON.stringify(first.handoverState())) as VtHandover;
    const successor = (s: VtHandover) => {
      const d = createVtDetector();
      d.resumePending(s);
      const s2 = new PatientStream('p', 'd', [d]);
      return list.slice(cut).flatMap((f) => s2.detect(f));
    };
    expect([...out, ...successor(state)]).toEqual([]);
    // Without the beats in the hand-over the successor's first windows have no rhythm to judge: vt.
    const { recentBeats: _dropped, ...withoutBeats } = state;
    expect(successor(withoutBeats as VtHandover).map((c) => c.type)).toContain('onset');
  });
});

describe('RecentBeats.regularNormalThrough (a regular normal rhythm through a window)', () => {
  const list = (times: readonly number[], cls: BeatClass = 'N') => {
    const r = new RecentBeats();
    times.forEach((t, i) => r.add(t, i === 0 ? 0 : t - times[i - 1]!, cls));
    return r;
  };
  const regular = [0, 800, 1600, 2400, 3200, 4000, 4800];

  it('regular N beats at 75/min spanning the window: yes', () => {
    expect(list(regular).regularNormalThrough(500, 4500, 600)).toBe(true);
  });
  it('no beat at or before the window start (rhythm before it unknown): no', () => {
    expect(list(regular.slice(1)).regularNormalThrough(500, 4500, 600)).toBe(false);
  });
  it('a V beat among them, or all labelled S: no', () => {
    const r = new RecentBeats();
    regular.forEach((t, i) => r.add(t, i === 0 ? 0 : 800, i === 3 ? 'V' : 'N'));
    expect(r.regularNormalThrough(500, 4500, 600)).toBe(false);
    expect(list(regular, 'S').regularNormalThrough(500, 4500, 600)).toBe(false);
  });
  it('mean rate faster than the limit: no (at 100/min exactly: yes)', () => {
    expect(list([0, 590, 1180, 1770, 2360, 2950, 3540, 4130]).regularNormalThrough(300, 4300, 600)).toBe(false);
    expect(list([0, 600, 1200, 1800, 2400, 3000, 3600, 4200]).regularNormalThrough(300, 4300, 600)).toBe(true);
  });
  it(`intervals spread by more than ${REGULAR_RR_SPREAD_MS} ms: no; by exactly that: yes`, () => {
    expect(list([0, 800, 1600 + REGULAR_RR_SPREAD_MS + 1, 2400, 3200, 4000, 4800]).regularNormalThrough(500, 4500, 600)).toBe(false);
    expect(list([0, 800, 1600 + REGULAR_RR_SPREAD_MS / 2, 2400, 3200, 4000, 4800]).regularNormalThrough(500, 4500, 600)).toBe(true);
  });
  it('the next beat overdue at the window end (longer than the shortest interval plus the band): no', () => {
    expect(list([0, 800, 1600, 2400, 3200]).regularNormalThrough(500, 3200 + 800 + REGULAR_RR_SPREAD_MS, 600)).toBe(true);
    expect(list([0, 800, 1600, 2400, 3200]).regularNormalThrough(500, 3200 + 800 + REGULAR_RR_SPREAD_MS + 1, 600)).toBe(false);
  });
  it('an unknown interval (rr 0: lost frames) starts the list afresh, and clear() forgets it', () => {
    const r = list(regular);
    r.add(5600, 0, 'N');
    expect(r.beats.map((b) => b.timeMs)).toEqual([5600]);
    const c = list(regular);
    c.clear();
    expect(c.regularNormalThrough(500, 4500, 600)).toBe(false);
  });
});
