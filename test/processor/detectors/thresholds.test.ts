import { describe, expect, it } from 'vitest';
import type { TelemetryFrame } from '../../../contracts/telemetry.ts';
import { defaultDetectors } from '../../../processor/processor.ts';
import { PatientStream } from '../../../processor/patient-stream.ts';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const NOW = '2026-11-25T10:05:00.000Z';

/** Frames of 1 s covering the given R-peak times (ms after T0), rr from the previous peak. */
function framesFor(beatTimesMs: number[], untilMs: number): TelemetryFrame[] {
  const frames: TelemetryFrame[] = [];
  let prev: number | undefined;
  for (let start = 0, seq = 0; start < untilMs; start += 1000, seq++) {
    const beats = beatTimesMs
      .filter((t) => t >= start && t < start + 1000)
      .map((t) => {
        const rr = prev === undefined ? 0 : t - prev;
        prev = t;
        return { off: t - start, rr, cls: 'N' as const };
      });
    frames.push({ seq, ts: T0 + start, durMs: 1000, hr: 0, battery: 80, leadOff: false, beats });
  }
  return frames;
}

/** Regular beats every rrMs from `fromMs`, n of them. */
const regular = (fromMs: number, rrMs: number, n: number) => Array.from({ length: n }, (_, i) => fromMs + i * rrMs);

function run(beats: number[], untilMs: number, leadOffFrames: number[] = []) {
  const stream = new PatientStream('p1', 'd1', defaultDetectors());
  const frames = framesFor(beats, untilMs);
  for (const i of leadOffFrames) frames[i] = { ...frames[i]!, leadOff: true };
  return frames.flatMap((f) => stream.analyse(f, NOW));
}

describe('extreme bradycardia (HR < 40 bpm for 5 consecutive beats)', () => {
  it('raises nothing for 4 consecutive beats under 40 bpm', () => {
    const beats = [...regular(0, 800, 10), ...regular(7200 + 1600, 1600, 4), ...regular(7200 + 1600 * 4 + 800, 800, 10)];
    expect(run(beats, 30_000).filter((a) => a.kind === 'extreme_brady')).toEqual([]);
  });

  it('raises one extreme_brady whose onset is the first of 5 consecutive slow beats', () => {
    const slowStart = 7200 + 1600; // first slow beat: RR 1600 ms after the last normal beat at 7200
    // The end is the first normal beat (the averaged rate is ≥ 45 bpm there), final 30 s later (end hysteresis).
    const beats = [...regular(0, 800, 10), ...regular(slowStart, 1600, 5), ...regular(slowStart + 1600 * 4 + 800, 800, 50)];
    const alerts = run(beats, 60_000).filter((a) => a.kind === 'extreme_brady');
    expect(alerts.map((a) => ({ state: a.state, onset: a.onset, end: a.end, revision: a.revision }))).toEqual([
      { state: 'active', onset: new Date(T0 + slowStart).toISOString(), end: undefined, revision: 1 },
      { state: 'active', onset: new Date(T0 + slowStart).toISOString(), end: new Date(T0 + slowStart + 1600 * 4 + 800).toISOString(), revision: 2 },
    ]);
    expect(alerts[0]).toMatchObject({ priority: 'high', category: 'physiological', evidence: { hrBpm: 37.5, beatCount: 5, rrMs: [1600, 1600, 1600, 1600, 1600] } });
    expect(alerts[0]!.id).toBe(alerts[1]!.id);
  });

  it('treats exactly 40 bpm (RR 1500 ms) as not below 40', () => {
    const beats = [...regular(0, 800, 10), ...regular(7200 + 1500, 1500, 8)];
    expect(run(beats, 30_000).filter((a) => a.kind === 'extreme_brady')).toEqual([]);
  });
});

describe('extreme tachycardia (HR > 140 bpm for 17 consecutive beats)', () => {
  it('raises nothing for 16 consecutive fast beats', () => {
    const beats = [...regular(0, 800, 5), ...regular(3200 + 400, 400, 16), ...regular(3200 + 400 * 16 + 800, 800, 5)];
    expect(run(beats, 20_000).filter((a) => a.kind === 'extreme_tachy')).toEqual([]);
  });

  it('raises extreme_tachy at the 17th fast beat with onset at the first', () => {
    const beats = [...regular(0, 800, 5), ...regular(3200 + 400, 400, 17), ...regular(3200 + 400 * 17 + 800, 800, 50)];
    const alerts = run(beats, 60_000).filter((a) => a.kind === 'extreme_tachy');
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toMatchObject({ onset: new Date(T0 + 3600).toISOString(), evidence: { hrBpm: 150, beatCount: 17 } });
  });
});

describe('asystole (no QRS for ≥ 4 s)', () => {
  it('raises nothing for a 3.9 s gap', () => {
    const beats = [...regular(0, 1000, 5), ...regular(4000 + 3900, 1000, 5)];
    expect(run(beats, 15_000).filter((a) => a.kind === 'asystole')).toEqual([]);
  });

  it('raises asystole with onset at the last beat before a 6 s silence and ends at the next beat', () => {
    const beats = [...regular(0, 1000, 5), ...regular(4000 + 6000, 1000, 5)];
    const alerts = run(beats, 16_000).filter((a) => a.kind === 'asystole');
    expect(alerts.map((a) => [a.onset, a.end ?? null])).toEqual([
      [new Date(T0 + 4000).toISOString(), null],
      [new Date(T0 + 4000).toISOString(), new Date(T0 + 10_000).toISOString()],
    ]);
  });

  it('never raises asystole across lead-off frames (technical condition, not asystole)', () => {
    const beats = [...regular(0, 1000, 5), ...regular(4000 + 6000, 1000, 5)];
    expect(run(beats, 16_000, [5, 6, 7]).filter((a) => a.kind === 'asystole')).toEqual([]);
  });
});

describe('asystole across lost frames', () => {
  it('raises asystole when frames are missing but the device measured a ≥ 4 s RR on lead-on data', () => {
    const stream = new PatientStream('p1', 'd1', defaultDetectors());
    const frames = framesFor([...regular(0, 1000, 5), ...regular(4000 + 6000, 1000, 5)], 16_000);
    const delivered = frames.filter((_, i) => i < 5 || i > 8); // frames 5–8 never arrived
    const alerts = delivered.flatMap((f) => stream.analyse(f, NOW)).filter((a) => a.kind === 'asystole');
    expect(alerts.map((a) => [a.onset, a.end])).toEqual([
      [new Date(T0 + 4000).toISOString(), undefined],
      [new Date(T0 + 4000).toISOString(), new Date(T0 + 10_000).toISOString()],
    ]);
  });
});
