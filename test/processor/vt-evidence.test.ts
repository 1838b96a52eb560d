/**
 * A VT alarm's evidence describes its run of ventricular beats (cardiologist walk, finding 5): the
 * beat count, the rate from the V–V intervals inside the run and the run's length — not the
 * coupling interval before it nor a slower beat after it (CinC 2015 v131l: 5 beats at 131.2 bpm
 * with rr [345, 356, 365, 343, 878] for a run of 7 V beats at 343–375 ms). The count grows in the
 * evidence updates as the run does, and the alert's final count is never below one it showed.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { readWfdbRecord } from '../../device-sim/wfdb-record.ts';
import { createVtDetector, digitsBelow } from '../../processor/detectors/vt.ts';
import { StreamRuntime } from '../../processor/stream-runtime.ts';
import { ecgOnlyFrames } from '../../eval/qrs.ts';
import { EVAL_EPOCH_MS } from '../../eval/replay.ts';
import { byIntervals, framesFor, lastT, regular, run, T0, type TestBeat } from './detectors/stream-helpers.ts';

/** 10 normal beats at 75 bpm, then beats by the given intervals and classes, then 12 normal beats. */
function rhythm(parts: readonly { rrMs: readonly number[]; cls: 'N' | 'V' }[]): TestBeat[] {
  const beats = regular(0, 800, 10);
  for (const p of parts) beats.push(...byIntervals(lastT(beats), p.rrMs, p.cls));
  beats.push(...byIntervals(lastT(beats), Array(12).fill(800)));
  return beats;
}

/** Every VT snapshot the production stream runtime publishes for these frames. */
function vtSnapshots(frames: readonly TelemetryFrame[]): Alert[] {
  const rt = new StreamRuntime({ patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION });
  return frames.flatMap((f) => rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts).filter((a) => a.kind === 'vt');
}

describe('VT evidence: the run of ventricular beats', () => {
  it('counts the run without the slower V beat after it; rate from the V–V intervals inside the run; its length first to last beat', () => {
    // 8 V beats 350 ms apart (the first 350 ms after the last N: its coupling interval), then one
    // V beat 878 ms later, then sinus: v131l's shape.
    const beats = rhythm([{ rrMs: [350, 350, 350, 350, 350, 350, 350, 350, 878], cls: 'V' }]);
    const alerts = run([createVtDetector()], beats, lastT(beats) + 1);
    expect(alerts.map((a) => a.end === undefined)).toEqual([true, false]);
    expect(alerts[0]!.evidence).toMatchObject({ beatCount: 5, hrBpm: 171.4, rrMs: [350, 350, 350, 350], runMs: 1400 });
    expect(alerts[1]!.evidence).toMatchObject({ beatCount: 8, hrBpm: 171.4, rrMs: [350, 350, 350, 350, 350, 350, 350], runMs: 2450 });
  });

  it('a slower V–V interval inside the run (a complex missed) counts with it', () => {
    const beats = rhythm([{ rrMs: [350, 350, 350, 350, 350, 350, 700, 350, 350], cls: 'V' }]);
    const end = run([createVtDetector()], beats, lastT(beats) + 1).at(-1)!;
    expect(end.evidence).toMatchObject({ beatCount: 9, rrMs: [350, 350, 350, 350, 350, 700, 350, 350], hrBpm: round1(60000 / (3150 / 8)), runMs: 3150 });
  });

  it('a sustained VT (firmware beats): each evidence update counts every V beat so far at the run\'s rate; the end counts them all', () => {
    // 60 V beats at 400 ms (150/min), 24 s.
    const beats = rhythm([{ rrMs: Array(60).fill(400), cls: 'V' }]);
    const firstV = 7200 + 400;
    const vts = vtSnapshots(framesFor(beats, lastT(beats) + 15_000));
    const updates = vts.filter((a) => a.end === undefined && a.revision > 1);
    expect(updates.length).toBeGreaterThanOrEqual(2);
    for (const u of updates) {
      const shownUntil = Date.parse(u.updatedAt) - T0;
      const vSoFar = Math.min(60, Math.floor((shownUntil - 1 - firstV) / 400) + 1);
      expect(u.evidence).toMatchObject({ beatCount: vSoFar, hrBpm: 150, runMs: (vSoFar - 1) * 400 });
    }
    expect(vts.at(-1)!.evidence).toMatchObject({ beatCount: 60, hrBpm: 150, runMs: 59 * 400 });
  });

  it('one alert over two runs (re-armed within the end confirmation): its final evidence keeps the longer run', () => {
    const beats = rhythm([
      { rrMs: Array(12).fill(380), cls: 'V' },
      { rrMs: [700, 800, 800], cls: 'N' },
      { rrMs: Array(5).fill(380), cls: 'V' },
    ]);
    const vts = vtSnapshots(framesFor(beats, lastT(beats) + 15_000));
    expect(new Set(vts.map((a) => a.id)).size).toBe(1);
    expect(vts.at(-1)!.end).toBeDefined();
    expect(vts.at(-1)!.evidence).toMatchObject({ beatCount: 12, hrBpm: 157.9, runMs: 11 * 380 });
  });

  it('the waveform rule\'s text never reads "0.65 < 0.65": enough digits to be below the threshold', () => {
    expect(digitsBelow(0.6498, 0.65)).toBe('0.6498');
    expect(digitsBelow(0.63, 0.65)).toBe('0.63');
    expect(digitsBelow(0.64999, 0.65)).toBe('0.64999');
  });

  const v131l = '/work/shared/data/ecg/challenge2015/v131l';
  it.skipIf(!existsSync(`${v131l}.hea`))('CinC 2015 v131l (ECG-only, lead II, through the stream runtime): 7 V beats at 167.6/min over 2.1 s, not 5 beats at 131.2 with the 878 ms interval after the run', async () => {
    const record = await readWfdbRecord(v131l);
    const frames = [...ecgOnlyFrames(record)].filter((f) => f.ts - EVAL_EPOCH_MS < 320_000);
    const vts = vtSnapshots(frames);
    const last = vts.at(-1)!;
    expect(last.end).toBeDefined();
    expect(last.evidence).toMatchObject({ beatCount: 7, hrBpm: 167.6, rrMs: [375, 364, 345, 356, 365, 343], runMs: 2148 });
    expect(last.evidence.criterion).not.toMatch(/0\.65 < 0\.65/);
  });
});

const round1 = (x: number) => Math.round(x * 10) / 10;
