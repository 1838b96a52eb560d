/**
 * An AF alarm that ends into a fast regular rhythm says so in its end evidence (afib.ts
 * `#fastRhythmAfterEnd`, contracts/alert.ts `endNote`; cardiologist walk finding 3, afdb 04908: the
 * AF alarm ended as atrial flutter at ≈ 150/min began, and read as if the rhythm had settled).
 * Words only: the AF onset and end are the same whatever follows. Through StreamRuntime, so the
 * AF detector sees the stream's extreme tachycardia detector as in production.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import type { TimedBeat } from '../../device-sim/frames.ts';
import { createPrng, uniform } from '../../device-sim/prng.ts';
import { AfibDetector } from '../../processor/detectors/afib.ts';
import type { Detector } from '../../processor/detectors/detector.ts';
import { StreamRuntime } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, T0 } from './helpers.ts';

/**
 * 40 s sinus rhythm at 75/min, 150 s of AF-like intervals (independent, uniform 300–900 ms), then
 * `after` — 4 min of it, past the AF alarm's 2 min off-delay.
 */
function afBeats(after: (i: number) => number): TimedBeat[] {
  const list: TimedBeat[] = beats(T0, [{ rrMs: 800, count: 50 }]);
  let t = list.at(-1)!.tMs;
  const random = createPrng(20261207);
  while (t < T0 + 190_000) list.push({ tMs: (t += Math.round(uniform(random, 300, 900))), cls: 'N' });
  const afEndMs = t + 240_000;
  for (let i = 0; t < afEndMs; i++) list.push({ tMs: (t += after(i)), cls: 'N' });
  return list;
}

/** {@link afBeats} through a StreamRuntime: every snapshot published. */
function afThen(after: (i: number) => number): Alert[] {
  const list = afBeats(after);
  const rt = new StreamRuntime({ patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false });
  return frames(list, list.at(-1)!.tMs - T0 + 1000).flatMap((f) => rt.ingest(f, iso(f.ts + f.durMs)).alerts);
}

/** The AF alarm's onset and end, and its end note. */
function afEnd(snapshots: Alert[]) {
  const ended = snapshots.filter((a) => a.kind === 'afib' && a.end);
  expect(ended).toHaveLength(1);
  const a = ended[0]!;
  return { onset: a.onset, end: a.end, endNote: a.evidence.endNote };
}

describe('an AF alarm that ends into a fast regular rhythm', () => {
  const sinus = afEnd(afThen(() => 800));

  it('regular 150/min after it (2:1 flutter): the end says the rate is regular and to consider atrial flutter; onset and end as after sinus rhythm', () => {
    const flutter = afThen(() => 400);
    const got = afEnd(flutter);
    expect(got.endNote).toBe('irregularity ended, rate 150/min regular — consider atrial flutter');
    expect({ onset: got.onset, end: got.end }).toEqual({ onset: sinus.onset, end: sinus.end });
    // The rate also raised the extreme tachycardia, which the note does not replace.
    expect(flutter.some((a) => a.kind === 'extreme_tachy')).toBe(true);
  });

  it('regular 130/min (above the default tachy limit, below the extreme one): said too', () => {
    expect(afEnd(afThen(() => 460)).endNote).toBe('irregularity ended, rate 130/min regular — consider atrial flutter');
  });

  it('sinus rhythm at 75/min, or 110/min, after it: nothing said', () => {
    expect(sinus.endNote).toBeUndefined();
    expect(afEnd(afThen(() => 545)).endNote).toBeUndefined();
  });

  it('with an extreme tachycardia open the end says so, whatever the rate it reads (the stream\u2019s detectors, useStreamDetectors)', () => {
    const list = afBeats(() => 800);
    const notes = (extremeOpen: boolean) => {
      const af = new AfibDetector();
      const extreme: Detector = {
        kind: 'extreme_tachy', onBeat: () => [], onTime: () => [], onDiscontinuity: () => [],
        openEvidence: () => (extremeOpen ? { onsetMs: T0, evidence: { criterion: 'test', thresholds: {} } } : undefined),
      };
      af.useStreamDetectors([af, extreme]);
      let prev: number | undefined;
      const changes = list.flatMap((b) => {
        const rrMs = prev === undefined ? 0 : b.tMs - prev;
        prev = b.tMs;
        return [...af.onTime({ nowMs: b.tMs }), ...af.onBeat({ timeMs: b.tMs, rrMs, cls: 'N' })];
      });
      return changes.filter((c) => c.type === 'end').map((c) => c.evidence.endNote);
    };
    expect(notes(false)).toEqual([undefined]);
    expect(notes(true)).toEqual(['irregularity ended, extreme tachycardia ongoing (rate 75/min) — consider atrial flutter']);
  });
});
