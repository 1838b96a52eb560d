/**
 * A silence (asystole, pause) running when the processor restarts, or when the patient's criteria
 * change (silence.ts): the fresh detector never sees the beat before the silence, and a successor
 * reads the telemetry only from the committed position. Before issue 12 session 18, a restart in
 * the first seconds of an asystole meant it was never raised, unless the beat before it was
 * delivered again. Now a silence ≥ 2 s is in the changelog record and raised at the same device
 * time with the same onset; a shorter one counts from the first frame the successor sees, ≤ 2 s
 * late. Slow heart rates raise nothing across a restart. StreamRuntime directly (its record
 * through JSON, as on the bus) for a device with firmware beats and an ECG-only device.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { alarmCriteriaSchema, DEFAULT_CRITERIA_VERSION, type CriteriaVersion } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { parseStreamState } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, T0, type Segment } from './helpers.ts';

const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };

/** Firmware beats only (no ECG), 1 s frames. */
const firmware = (segments: Segment[], durationMs: number) => frames(beats(T0, segments), durationMs);
/** An ECG-only device: 250 Hz synthetic ECG, no beats in the frames (the processor detects them). */
const ecgOnly = (segments: Segment[], durationMs: number) => frames(beats(T0, segments), durationMs, { ecg: syntheticEcgSource(7, 250), ecgFsHz: 250 }).map((f) => ({ ...f, beats: [], hr: 0 }));

/** 20 s at 60 bpm, then no beat at all: an asystole from the last beat (20 s) that never ends. */
const ASYSTOLE_SEGMENTS: Segment[] = [{ rrMs: 1000, count: 20 }];

interface Raised { kind: string; at: number; onsetMs: number; note: string | undefined }

/** Whether the changelog record of the last restart in {@link raised} kept a running silence of that kind. */
let keptSilence: Set<string> = new Set();

/** Alerts as raised (revision 1): the frame that raised them and their onset (ms after T0). */
function raised(list: TelemetryFrame[], restart?: { after: number; redeliverFrom?: number; criteria?: CriteriaVersion }): Raised[] {
  const out: Raised[] = [];
  keptSilence = new Set();
  const take = (alerts: Alert[], at: number) => {
    for (const a of alerts) if (a.revision === 1 && a.category === 'physiological') out.push({ kind: a.kind, at, onsetMs: Date.parse(a.onset) - T0, note: a.evidence.note });
  };
  const criteria = restart?.criteria;
  const options: StreamRuntimeOptions = criteria
    ? { ...OPTIONS, criteriaAt: (tsMs) => (tsMs >= Date.parse(criteria.effectiveFrom) ? criteria : DEFAULT_CRITERIA_VERSION) }
    : OPTIONS;
  let rt = new StreamRuntime(options);
  for (const [i, f] of list.entries()) {
    take(rt.ingest(f, iso(f.ts + f.durMs)).alerts, i);
    if (restart && !criteria && i === restart.after) {
      const record = parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!;
      keptSilence = new Set((record.pending ?? []).filter((p) => typeof p.state.lastBeatMs === 'number').map((p) => p.kind));
      rt = StreamRuntime.restore(options, record);
      for (const g of list.slice(restart.redeliverFrom ?? i + 1, i + 1)) take(rt.ingest(g, iso(g.ts + g.durMs)).alerts, i);
    }
  }
  return out;
}

describe('an asystole running when the processor restarts', () => {
  for (const [device, list] of [['firmware beats', firmware(ASYSTOLE_SEGMENTS, 40_000)], ['ECG-only', ecgOnly(ASYSTOLE_SEGMENTS, 40_000)]] as const) {
    const reference = raised(list).filter((a) => a.kind === 'asystole');
    const asystole = (restart: Parameters<typeof raised>[1]) => raised(list, restart).filter((a) => a.kind === 'asystole');

    it(`${device}: the reference raises it 4 s after the last beat, onset at that beat`, () => {
      expect(reference.map((a) => a.kind)).toEqual(['asystole']);
      // (ECG-only: the R peak the processor's QRS detector finds, a few ms off the simulator's.)
      expect(Math.abs(reference[0]!.onsetMs - 20_000)).toBeLessThanOrEqual(30);
      expect(list[reference[0]!.at]!.ts + 1000 - T0).toBeLessThanOrEqual(device === 'ECG-only' ? 26_000 : 25_000);
    });

    it(`${device}: restarted ≥ 2 s into it (the record keeps it), raised at the same frame with the same onset, whatever is delivered again`, () => {
      let kept = 0;
      for (let after = 19; after < reference[0]!.at; after++) {
        asystole({ after });
        if (!keptSilence.has('asystole')) continue;
        kept++;
        for (const redeliverFrom of [undefined, after, after - 2]) {
          expect([after, redeliverFrom, asystole({ after, ...(redeliverFrom !== undefined ? { redeliverFrom } : {}) })]).toEqual([after, redeliverFrom, reference]);
        }
      }
      // The record keeps a silence 2 s long at the input, also from an ECG-only device, whose beats
      // reach the detectors ≈ 0.5–1.5 s after their frame (before session 23: 2 s at the detectors,
      // and a restart 1–2 s into an ECG-only device's 5 s asystole raised nothing).
      expect(kept).toBeGreaterThanOrEqual(2);
    });

    it(`${device}: restarted less than 2 s into it (or just before), raised at most 2 s late, counted from the first frame the successor sees`, () => {
      let notKept = 0;
      for (let after = 16; after < reference[0]!.at; after++) {
        const got = asystole({ after });
        if (keptSilence.has('asystole')) continue;
        notKept++;
        expect([after, got.length]).toEqual([after, 1]);
        expect(got[0]!.at - reference[0]!.at).toBeLessThanOrEqual(2);
        expect(got[0]!.onsetMs - reference[0]!.onsetMs).toBeLessThanOrEqual(2000);
        // Measured from a beat the successor found itself (a few ms off), or the alert says where it counted from.
        if (got[0]!.note === undefined) expect(Math.abs(got[0]!.onsetMs - reference[0]!.onsetMs)).toBeLessThanOrEqual(30);
        else expect(got[0]!.note).toMatch(/processor resumed this stream/);
      }
      expect(notKept).toBeGreaterThanOrEqual(4);
    });
  }
});

describe('an ECG-only device\'s 5 s asystole when the processor restarts with nothing delivered again', () => {
  // Twelve rhythms (60–91 bpm, other ECG seeds and phases): the beats the processor derives reach
  // the detectors ≈ 0.5–1.5 s after their frame, so at a restart 2 s into the silence the asystole
  // detector has seen less than 2 s of it. The record keeps the silence by the input (2 s), and the
  // successor raises the asystole from the same beat. Before session 23 of issue 12 a restart 2 s
  // into the silence (frame 21) raised no asystole at all in 2 of the 12 rhythms (RR 900, 940 ms).
  // Still a limit: a restart less than 2 s into it, with nothing delivered again, can lose it
  // (an ECG-only successor has no device RR to tell the silence's length; EVALUATION.md §5).
  for (let seed = 1; seed <= 12; seed++) {
    const rrMs = 700 + seed * 40;
    const list = frames(beats(T0 + seed * 37, [{ rrMs, count: Math.round(20_000 / rrMs) }, { rrMs: 5000, count: 1 }, { rrMs, count: 20 }]), 50_000, { ecg: syntheticEcgSource(seed, 250), ecgFsHz: 250 }).map((f) => ({ ...f, beats: [], hr: 0 }));
    it(`rhythm ${seed} (RR ${rrMs} ms): a restart after any frame ending ≥ 2 s into the silence raises it with the same onset, at most 2 frames late`, () => {
      // (The asystole at the end of the list, after its last beat, is not this one.)
      const first = (r: Raised[]) => r.filter((a) => a.kind === 'asystole' && a.onsetMs < 30_000);
      const reference = first(raised(list));
      expect(reference).toHaveLength(1);
      const lastBeatMs = reference[0]!.onsetMs;
      let checked = 0;
      for (let after = 0; after < reference[0]!.at; after++) {
        if (list[after]!.ts + list[after]!.durMs - T0 < lastBeatMs + 2000) continue;
        const got = first(raised(list, { after }));
        expect([after, got.length, got[0] && Math.abs(got[0].onsetMs - lastBeatMs) <= 30]).toEqual([after, 1, true]);
        expect(got[0]!.at - reference[0]!.at).toBeLessThanOrEqual(2);
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(1);
    });
  }
});

describe('slow heart rates across a restart: no asystole, no pause', () => {
  const cases = [
    ['firmware beats at 32 bpm (1.9 s apart)', firmware([{ rrMs: 1900, count: 30 }], 58_000)],
    ['firmware beats at 25 bpm (2.4 s apart: a silence ≥ 2 s before every beat)', firmware([{ rrMs: 2400, count: 24 }], 58_000)],
    ['ECG-only at 40 bpm', ecgOnly([{ rrMs: 1500, count: 38 }], 58_000)],
  ] as const;
  for (const [name, list] of cases) {
    it(`${name}: a restart after any frame raises what the uninterrupted stream raises`, () => {
      const reference = raised(list);
      expect(reference.filter((a) => a.kind === 'asystole' || a.kind === 'pause')).toEqual([]);
      for (let after = 10; after < 40; after++) {
        const got = raised(list, { after });
        expect([after, got.filter((a) => a.kind === 'asystole' || a.kind === 'pause')]).toEqual([after, []]);
      }
    });
  }
});

describe('a pause running when the processor restarts', () => {
  // 20 s at 60 bpm, a 3.5 s pause, then 60 bpm: a pause (≥ 3 s, shorter than an asystole's 4 s).
  const segments: Segment[] = [{ rrMs: 1000, count: 20 }, { rrMs: 3500, count: 1 }, { rrMs: 1000, count: 15 }];
  for (const [device, list] of [['firmware beats', firmware(segments, 40_000)], ['ECG-only', ecgOnly(segments, 40_000)]] as const) {
    it(`${device}: restarted inside it, raised as the uninterrupted stream raises it${device === 'ECG-only' ? ' once the record keeps it (≥ 2 s)' : ''}`, () => {
      const pause = (restart?: Parameters<typeof raised>[1]) => raised(list, restart).filter((a) => a.kind === 'pause' || a.kind === 'asystole');
      const reference = pause();
      expect(reference.map((a) => a.kind)).toEqual(['pause']);
      expect(Math.abs(reference[0]!.onsetMs - 20_000)).toBeLessThanOrEqual(30);
      let checked = 0;
      for (let after = 20; after < reference[0]!.at; after++) {
        const got = pause({ after });
        // Firmware beats carry the device's RR: the end beat tells the successor the pause's length
        // anyway. An ECG-only device's successor finds the end beat with no RR (its QRS detector
        // starts afresh): it cannot know a pause the record did not keep (< 2 s in at the restart:
        // a limit, EVALUATION.md §5).
        if (device === 'ECG-only' && !keptSilence.has('pause')) continue;
        expect([after, got]).toEqual([after, reference]);
        checked++;
      }
      expect(checked).toBeGreaterThanOrEqual(device === 'ECG-only' ? 2 : 3);
    });
  }
});

describe('an asystole running when the patient’s asystole criterion changes', () => {
  const list = firmware(ASYSTOLE_SEGMENTS, 40_000);
  // The clinician sets 5 s (within the allowed 3–6 s) effective 1 s and 3 s into the silence: the new
  // detector continues the silence (≥ 2 s: from the beat; shorter: from the change, ≤ 2 s late).
  for (const changeMs of [21_000, 23_000]) {
    it(`changed ${changeMs / 1000 - 20} s into it: raised 5 s after ${changeMs === 23_000 ? 'the last beat' : 'the change at the latest'}`, () => {
      const criteria: CriteriaVersion = { version: 1, effectiveFrom: iso(T0 + changeMs), setBy: 'dr-care', setAt: iso(T0), alarms: alarmCriteriaSchema.parse({ asystole: { minGapMs: 5000 } }) };
      const got = raised(list, { after: -1, criteria }).filter((a) => a.kind === 'asystole');
      expect(got).toHaveLength(1);
      if (changeMs === 23_000) expect([got[0]!.onsetMs, list[got[0]!.at]!.ts + 1000 - T0]).toEqual([20_000, 25_000]);
      else expect(list[got[0]!.at]!.ts + 1000 - T0).toBeLessThanOrEqual(changeMs + 5000);
    });
  }
});
