/**
 * Extreme bradycardia and extreme tachycardia (N consecutive beats beyond the limit,
 * consecutive-rate.ts) and VT (N consecutive ventricular beats, vt.ts; firmware beats) across a
 * processor restart or partition move: the run of qualifying beats
 * so far is in the changelog record, so the high-priority alarm is raised at the same frame with the
 * same onset as without the restart. Before issue 12 session 18 the successor counted from zero:
 * up to 7 s late for an extreme bradycardia at 35/min. StreamRuntime directly (its record through
 * JSON, as on the bus).
 */
import { describe, expect, it } from 'vitest';
import { alarmCriteriaSchema, DEFAULT_CRITERIA_VERSION, type CriteriaVersion } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { parseStreamState } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, T0, type Segment } from './helpers.ts';

const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };

/** 20 s at 75/min, 20 beats at 35/min (extreme bradycardia: < 40/min for 5 beats, raised at the 5th), then 75/min. */
const BRADY: Segment[] = [{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 20 }, { rrMs: 800, count: 40 }];
/** 20 s at 75/min, 40 beats at 150/min (extreme tachycardia: > 140/min for 17 beats), then 75/min. */
const TACHY: Segment[] = [{ rrMs: 800, count: 25 }, { rrMs: 400, count: 40 }, { rrMs: 800, count: 40 }];
/** 20 s at 75/min, 15 ventricular beats at 107/min (VT), then 75/min. */
const VT: Segment[] = [{ rrMs: 800, count: 25 }, { rrMs: 560, count: 15, cls: 'V' }, { rrMs: 800, count: 40 }];
const firmware = (segments: Segment[]) => frames(beats(T0, segments), 90_000);
/** The patient's VT criterion set to its longest run, 10 beats (allowed 3–10), from the start. */
const VT_10: StreamRuntimeOptions = {
  ...OPTIONS,
  criteriaAt: () => ({ version: 1, effectiveFrom: iso(T0), setBy: 'dr-care', setAt: iso(T0), alarms: alarmCriteriaSchema.parse({ vt: { minBeats: 10 } }) }),
};
const ecgOnly = (segments: Segment[]) => frames(beats(T0, segments), 90_000, { ecg: syntheticEcgSource(7, 250), ecgFsHz: 250 }).map((f) => ({ ...f, beats: [], hr: 0 }));

interface Restart { after: number; redeliverFrom?: number; rest?: TelemetryFrame[] }

/** The alarms of `kind` as raised (revision 1): the frame that raised them and their onset (ms after T0). */
function raised(list: TelemetryFrame[], kind: string, restart?: Restart, options = OPTIONS): { at: number; onsetMs: number }[] {
  const out: { at: number; onsetMs: number }[] = [];
  let rt = new StreamRuntime(options);
  const feed = (fs: TelemetryFrame[], at: (i: number) => number) => {
    for (const [i, f] of fs.entries()) {
      for (const a of rt.ingest(f, iso(f.ts + f.durMs)).alerts) if (a.kind === kind && a.revision === 1) out.push({ at: at(i), onsetMs: Date.parse(a.onset) - T0 });
    }
  };
  if (!restart) {
    feed(list, (i) => i);
    return out;
  }
  feed(list.slice(0, restart.after + 1), (i) => i);
  rt = StreamRuntime.restore(options, parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!);
  feed(list.slice(restart.redeliverFrom ?? restart.after + 1, restart.after + 1), () => restart.after);
  feed(restart.rest ?? list.slice(restart.after + 1), (i) => restart.after + 1 + i);
  return out;
}

describe('a run of extreme-rate beats when the processor restarts', () => {
  const cases: { name: string; list: TelemetryFrame[]; kind: string; firstBeatMs: number; options?: StreamRuntimeOptions }[] = [
    { name: 'VT, firmware beats', list: firmware(VT), kind: 'vt', firstBeatMs: 20_560 },
    { name: 'VT of 10 beats (the patient\'s criterion), firmware beats', list: firmware(VT), kind: 'vt', firstBeatMs: 20_560, options: VT_10 },
    { name: 'extreme bradycardia, firmware beats', list: firmware(BRADY), kind: 'extreme_brady', firstBeatMs: 21_700 },
    { name: 'extreme tachycardia, firmware beats', list: firmware(TACHY), kind: 'extreme_tachy', firstBeatMs: 20_400 },
    { name: 'extreme bradycardia, ECG-only device', list: ecgOnly(BRADY), kind: 'extreme_brady', firstBeatMs: 21_700 },
  ];
  for (const c of cases) {
    const reference = raised(c.list, c.kind, undefined, c.options);
    it(`${c.name}: the reference raises it once, onset at the run's first beat`, () => {
      expect(reference).toHaveLength(1);
      expect(Math.abs(reference[0]!.onsetMs - c.firstBeatMs)).toBeLessThanOrEqual(30);
    });

    it(`${c.name}: a restart after any frame of the run raises it at the same frame with the same onset, whatever is delivered again`, () => {
      // ECG-only: from the frame after the run's first beat reached the detectors (the QRS detector
      // decides ≈ 0.6 s after the input; a restart before that counts from the successor's first beats).
      const from = Math.ceil((c.firstBeatMs + (c.name.includes('ECG-only') ? 1000 : 0)) / 1000);
      for (let after = from; after < reference[0]!.at; after++) {
        for (const redeliverFrom of [undefined, after, from - 2]) {
          expect([after, redeliverFrom, raised(c.list, c.kind, { after, ...(redeliverFrom !== undefined ? { redeliverFrom } : {}) }, c.options)]).toEqual([after, redeliverFrom, reference]);
        }
      }
    });
  }

  it('a slow ventricular rhythm or a lone PVC is not kept (no changelog rewrite for it); a fast run is', () => {
    /** Whether the VT detector had a run pending after some frame. */
    const pendingKinds = (list: TelemetryFrame[]) => {
      const rt = new StreamRuntime(OPTIONS);
      const kinds = new Set<string>();
      for (const f of list) {
        rt.ingest(f, iso(f.ts + f.durMs));
        for (const p of rt.record('a', 0).pending ?? []) if (p.kind === 'vt') kinds.add(p.kind);
      }
      return [...kinds];
    };
    // 60 s of an idioventricular rhythm at 60/min, and sinus rhythm with a PVC every 4th beat.
    expect(pendingKinds(firmware([{ rrMs: 800, count: 10 }, { rrMs: 1000, count: 60, cls: 'V' }]))).toEqual([]);
    expect(pendingKinds(firmware(Array.from({ length: 20 }, (): Segment[] => [{ rrMs: 800, count: 3 }, { rrMs: 500, count: 1, cls: 'V' }]).flat()))).toEqual([]);
    expect(pendingKinds(firmware(VT))).toContain('vt');
  });

  it('a hole in the frames across the restart still ends the run: the count starts again after it', () => {
    const list = firmware(BRADY);
    const reference = raised(list, 'extreme_brady');
    // Restart 2 beats into the run, then 3 s of frames lost.
    const got = raised(list, 'extreme_brady', { after: 24, rest: list.slice(28) });
    expect(got).toHaveLength(1);
    expect(got[0]!.onsetMs).toBeGreaterThan(28_000);
    expect(got[0]!.at).toBeGreaterThan(reference[0]!.at);
  });

  it('a run that ends while no processor watched is not continued', () => {
    // 3 beats at 35/min, then 75/min: never 5 in a row, before or after a restart after the 2nd.
    const list = firmware([{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 3 }, { rrMs: 800, count: 60 }]);
    expect(raised(list, 'extreme_brady')).toEqual([]);
    for (const after of [22, 23, 24]) expect([after, raised(list, 'extreme_brady', { after })]).toEqual([after, []]);
  });

  it('a criteria change in the run keeps it when the new limit covers its beats, and judges it afresh when not', () => {
    const list = firmware(BRADY);
    const reference = raised(list, 'extreme_brady');
    const at = (minBpm: number, changeMs: number): StreamRuntimeOptions => {
      const v: CriteriaVersion = { version: 1, effectiveFrom: iso(T0 + changeMs), setBy: 'dr-care', setAt: iso(T0), alarms: alarmCriteriaSchema.parse({ extreme_brady: { hrBelowBpm: minBpm } }) };
      return { ...OPTIONS, criteriaAt: (tsMs) => (tsMs >= T0 + changeMs ? v : DEFAULT_CRITERIA_VERSION) };
    };
    // 45/min covers beats at 35/min: the run goes on, the alarm comes as without the change.
    expect(raised(list, 'extreme_brady', undefined, at(45, 25_000))).toEqual(reference);
    // 3 beats at 38/min, then 35/min; the limit goes down to 36/min after the third: the 38/min
    // beats are not below it, so the run starts again at the first 35/min beat.
    const mixed = firmware([{ rrMs: 800, count: 25 }, { rrMs: 1580, count: 3 }, { rrMs: 1715, count: 10 }, { rrMs: 800, count: 40 }]);
    const firstSlowMs = 25 * 800 + 3 * 1580 + 1715;
    const got = raised(mixed, 'extreme_brady', undefined, at(36, firstSlowMs - 1000));
    expect(got.map((a) => a.onsetMs)).toEqual([firstSlowMs]);
  });
});
