/**
 * One AF episode is one alarm on a device that streams ECG, also when the AF is only mildly
 * irregular and when it follows minutes of pacing: the ECG evidence that opens an episode (no
 * consistent P wave, irregular or unpredictable RR) also keeps it open, and a long run of paced
 * beats restarts the RR measure instead of being bridged (afib.ts). Production path: the
 * simulator's ECG (device-sim/ecg-synth.ts) with the simulator's AF intervals (afib-rr.ts) →
 * the processor's QRS detector (EcgBeatSource) → PatientStream with the default criteria.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_ALARM_CRITERIA } from '../../../contracts/criteria.ts';
import { AfRrModel, type AfRrParams } from '../../../device-sim/afib-rr.ts';
import { syntheticEcgSource } from '../../../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../../../device-sim/frames.ts';
import { createPrng } from '../../../device-sim/prng.ts';
import { SinusRhythm } from '../../../device-sim/rhythm.ts';
import { detectorsForCriteria } from '../../../processor/detector-set.ts';
import type { EpisodeChange } from '../../../processor/detectors/detector.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../../../processor/ecg-beats.ts';
import { PatientStream } from '../../../processor/patient-stream.ts';

const T0 = Date.UTC(2026, 0, 1);
const FS = 250;
/**
 * AF at the mild end of the simulator's range (90 bpm, exponential part 85 ms: afib-rr.ts draws
 * 85–160 ms): its 8-beat windows hover around the RR-only threshold η, so the smoothed RR
 * decision alone says "not AF" for long stretches of it.
 */
const MILD_AF: AfRrParams = { meanHrBpm: 90, tailMeanMs: 85 };

/**
 * The detector's own episode, without the alarm's off-delay (afib.ts `offDelayMs`, which would
 * hold the end for 2 min after it, past these records' end): these cases test where the detector
 * itself ends AF and that it makes one episode of it unaided.
 */
const NO_OFF_DELAY = { ...DEFAULT_ALARM_CRITERIA, afib: { ...DEFAULT_ALARM_CRITERIA.afib, offDelayMs: 0 } };

interface Case {
  changes: EpisodeChange[];
  afStartMs: number;
  afEndMs: number;
}

/** 3 min of rhythm at ≈ 84/min (paced when `paced`), 150 s of AF, 90 s of the rhythm again; ECG-only frames. */
function runCase(seed: number, paced: boolean): Case {
  const random = createPrng(seed);
  const beats: TimedBeat[] = [];
  let t = T0 + 500;
  const add = (rr: number, af = false) => { beats.push({ tMs: Math.round(t), cls: 'N', ...(af ? { af: true } : {}) }); t += rr; };
  for (const end = t + 180_000; t < end;) add(700 + Math.round(random() * 40));
  const afStartMs = t;
  const model = new AfRrModel(random, MILD_AF);
  for (const end = t + 150_000; t < end;) add(model.next(), true);
  const afEndMs = beats.at(-1)!.tMs;
  for (const end = t + 90_000; t < end;) add(700 + Math.round(random() * 40));
  const frames = buildFrames(beats, { t0Ms: T0, durationMs: t - T0, ecg: syntheticEcgSource(seed, FS, { paced }), ecgFsHz: FS, battery: 90 });
  const stream = new PatientStream('p', 'd', detectorsForCriteria(NO_OFF_DELAY));
  const source = new EcgBeatSource();
  const changes = [...frames].flatMap((f) => detectThroughBeatSource(source, stream, { ...f, beats: [], hr: 0 }).changes);
  return { changes: changes.filter((c) => c.kind === 'afib'), afStartMs, afEndMs };
}

/** What a clinician sees of the case: AF alarms (onset, end) relative to the AF's first beat, s. */
function alarms(c: Case): Array<{ onsetS: number; endS: number | null }> {
  const onsets = c.changes.filter((x) => x.type === 'onset');
  return onsets.map((o) => {
    const end = c.changes.find((x) => x.type === 'end' && x.onsetMs === o.onsetMs);
    return { onsetS: Math.round((o.onsetMs - c.afStartMs) / 1000), endS: end?.type === 'end' ? Math.round((end.endMs - c.afStartMs) / 1000) : null };
  });
}

describe('AF on an ECG-only device: one episode, one alarm', () => {
  // Seeds 1–8 each; before the ECG kept episodes open, 4 of the 8 unpaced cases and 1 of the 8
  // paced ones were split into two alarms (ended ≈ 30 s after the smoothed RR decision fell
  // below η, raised again about a minute later).
  it.each([false, true])('mild AF (paced rhythm around it: %s) is one alarm, ended at the end of the AF', (paced) => {
    for (let seed = 1; seed <= 8; seed++) {
      const c = runCase(seed, paced);
      const got = alarms(c);
      const afLengthS = Math.round((c.afEndMs - c.afStartMs) / 1000);
      expect(got, `seed ${seed}`).toHaveLength(1);
      // Onset inside the AF, never back-dated into the rhythm before it. (Mild AF is recognised
      // late when its first minute reads regular on 8-beat windows: up to ≈ 75 s here.)
      expect(got[0]!.onsetS, `seed ${seed}`).toBeGreaterThanOrEqual(-5);
      expect(got[0]!.onsetS, `seed ${seed}`).toBeLessThan(afLengthS - 30);
      if (paced) {
        // The rhythm after the AF is paced: those beats say nothing about the atria, so the
        // episode stays open (a known limit, EVALUATION.md §2b), but it is never ended early.
        expect(got[0]!.endS === null || got[0]!.endS >= afLengthS - 15, `seed ${seed}`).toBe(true);
      } else {
        expect(got[0]!.endS, `seed ${seed}`).not.toBeNull();
        // The end is back-dated to the last beat of dense irregular windows: mild AF's last
        // seconds can read regular (seed 4: 15 s before the last AF beat).
        expect(Math.abs(got[0]!.endS! - afLengthS), `seed ${seed}`).toBeLessThanOrEqual(20);
      }
    }
  });
});

describe('AF on a device that streams ECG: the episode ends where the P waves come back', () => {
  /**
   * The simulator's sinus rhythm (device-sim/rhythm.ts: respiratory sinus arrhythmia, Mayer waves,
   * beat-to-beat jitter — a healthy adult at rest, SDNN 32–57 ms) for 3 min, 90 s of AF at 110/min
   * (1/γ 120 ms), the sinus rhythm again for 2 min; frames with the simulator's ECG, with the
   * firmware's beats or without them (the processor's QRS detector).
   */
  function sinusAfSinus(seed: number, ecgOnly: boolean): Case {
    const sinus = new SinusRhythm({ seed });
    const random = createPrng(seed + 1000);
    const beats: TimedBeat[] = [];
    let t = T0 + 500;
    const sinusFor = (ms: number) => { for (const start = t, end = t + ms; t < end;) { beats.push({ tMs: Math.round(t), cls: 'N' }); t += sinus.nextRrMs(t - start); } };
    sinusFor(180_000);
    const afStartMs = Math.round(t);
    const model = new AfRrModel(random, { meanHrBpm: 110, tailMeanMs: 120 });
    for (const end = t + 90_000; t < end;) { beats.push({ tMs: Math.round(t), cls: 'N', af: true }); t += model.next(); }
    const afEndMs = beats.at(-1)!.tMs;
    sinusFor(120_000);
    const frames = buildFrames(beats, { t0Ms: T0, durationMs: t - T0, ecg: syntheticEcgSource(seed, FS), ecgFsHz: FS, battery: 90 });
    const stream = new PatientStream('p', 'd', detectorsForCriteria(NO_OFF_DELAY));
    const source = new EcgBeatSource();
    const changes = [...frames].flatMap((f) => detectThroughBeatSource(source, stream, ecgOnly ? { ...f, beats: [], hr: 0 } : f).changes);
    return { changes: changes.filter((c) => c.kind === 'afib'), afStartMs, afEndMs };
  }

  // Before the P waves ended episodes (issue 12 session 24), the averaged RR decision alone did:
  // in this sinus rhythm the 8-beat windows stay near η (beat-to-beat changes of 30–70 ms), and
  // seed 1's episode had not ended 2 min after the AF (`node eval/af-model.ts`: a median 27–78 s
  // late per cell).
  it.each([false, true])('ECG-only %s: one alarm, ended within 5 s of the AF\'s last beat', (ecgOnly) => {
    for (let seed = 1; seed <= 6; seed++) {
      const c = sinusAfSinus(seed, ecgOnly);
      const got = alarms(c);
      expect(got, `seed ${seed}`).toHaveLength(1);
      expect(got[0]!.endS, `seed ${seed}`).not.toBeNull();
      expect(Math.abs(got[0]!.endS! - (c.afEndMs - c.afStartMs) / 1000), `seed ${seed}`).toBeLessThanOrEqual(5);
    }
  });
});
