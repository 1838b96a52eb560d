/**
 * A patch put back rotated (issue 12 session 21). The beat shapes an ECG-only stream learned
 * survive a lead-off shorter than the lead-off alarm's delay (ecg-beats.ts); a two-electrode patch
 * stuck back on turned through 180° records the same lead with the opposite sign, so every beat
 * after it is the patient's own beat upside down. Before this session each of them read `V`, and
 * during a sinus tachycardia (> 100/min) a false VT alarm opened and stayed open. Now the labeller
 * checks the first beats after a short lead-off against its templates inverted
 * (qrs-morphology.ts, `POLARITY_CONFIRM_BEATS`). StreamRuntime directly, ECG-only device.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { parseStreamState } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, T0, type Segment } from './helpers.ts';

const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };

interface Scenario {
  /** Rhythm after 10 min of sinus rhythm at 75/min (the lead-off falls 60 s into it). */
  rhythm: Segment[];
  /** Lead-off from 660 s, this long. */
  leadOffS: number;
  /** The ECG after the lead-off is the negative of the one before (the patch turned through 180°). */
  reversed: boolean;
  /** The processor restarts after the frame starting this long after 660 s (its record through JSON). */
  restartAfterS?: number;
  /** The frame starting this long after 660 s never arrives (a hole restarts the QRS detector). */
  lostFrameAfterS?: number;
}

interface Outcome {
  vt: { onsetS: number; endS: number | undefined }[];
  /** Labels of the derived beats from 2 s after the lead-off on. */
  after: string;
}

function run(s: Scenario): Outcome {
  const timeline = beats(T0, [{ rrMs: 800, count: 750 }, ...s.rhythm]);
  const endMs = timeline.at(-1)!.tMs - T0 + 2000;
  const offFromMs = T0 + 660_000;
  const offToMs = offFromMs + s.leadOffS * 1000;
  const list: TelemetryFrame[] = frames(timeline, endMs, { ecg: syntheticEcgSource(9, 250), ecgFsHz: 250, leadOff: [{ startMs: offFromMs, endMs: offToMs }] })
    .filter((f) => s.lostFrameAfterS === undefined || f.ts !== offFromMs + s.lostFrameAfterS * 1000)
    .map((f) => ({ ...f, beats: [], hr: 0 }))
    .map((f) => (s.reversed && f.ts >= offToMs && f.ecg ? { ...f, ecg: { ...f.ecg, uV: f.ecg.uV.map((v) => -v) } } : f));
  let rt = new StreamRuntime(OPTIONS);
  const vt = new Map<string, { onsetS: number; endS: number | undefined }>();
  let after = '';
  for (const f of list) {
    const r = rt.ingest(f, iso(f.ts + f.durMs));
    for (const a of r.alerts) if (a.kind === 'vt') vt.set(a.id, { onsetS: (Date.parse(a.onset) - T0) / 1000, endS: a.end ? (Date.parse(a.end) - T0) / 1000 : undefined });
    for (const b of r.ecgBeatFrames) for (const x of b.beats) if (b.ts + x.off >= offToMs + 2000) after += x.cls;
    if (s.restartAfterS !== undefined && f.ts === offFromMs + s.restartAfterS * 1000) {
      rt = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!);
    }
  }
  return { vt: [...vt.values()], after };
}

const count = (s: string, c: string) => [...s].filter((x) => x === c).length;

describe('a patch put back turned through 180° after a short lead-off, ECG-only device', () => {
  for (const [rrMs, what] of [[550, 'a sinus tachycardia at 109/min'], [800, 'sinus rhythm at 75/min']] as const) {
    for (const leadOffS of [3, 5]) {
      it(`${what}, ${leadOffS} s lead-off: the beats after it read N and no VT alarm`, () => {
        const o = run({ rhythm: [{ rrMs, count: Math.round(300_000 / rrMs) }], leadOffS, reversed: true });
        expect(o.vt).toEqual([]);
        expect(o.after.length).toBeGreaterThan(250);
        expect(count(o.after, 'V')).toBe(0);
      });
    }
  }

  it('the same patch put back the right way round: unchanged (no V, no alarm)', () => {
    const o = run({ rhythm: [{ rrMs: 550, count: 545 }], leadOffS: 3, reversed: false });
    expect(o.vt).toEqual([]);
    expect(count(o.after, 'V')).toBe(0);
  });

  // The trade-off's other side: a VT that starts during the lead-off must still read V, whichever
  // way the patch went back. Its complexes are wide and unlike the patient's beat either way up.
  for (const reversed of [false, true]) {
    it(`a VT at 120/min that starts during a 3 s lead-off, patch put back ${reversed ? 'turned' : 'the right way round'}: one VT alarm from the first beats after it`, () => {
      const o = run({ rhythm: [{ rrMs: 800, count: 75 }, { rrMs: 500, count: 240, cls: 'V' }, { rrMs: 800, count: 150 }], leadOffS: 3, reversed });
      expect(o.vt).toHaveLength(1);
      expect(o.vt[0]!.onsetS).toBeGreaterThanOrEqual(663);
      expect(o.vt[0]!.onsetS).toBeLessThan(668);
      expect(o.vt[0]!.endS).toBeDefined();
    });
  }
});

describe('a processor restart around that lead-off (its changelog record, stream-state.ts)', () => {
  // 3 s lead-off from 660 s during a sinus tachycardia at 109/min; 1 s frames. The successor must
  // know what the predecessor knew: the kept shapes, that the electrodes came off, and that the
  // first beats after it are still being checked for a turned patch.
  it('a lost frame in the first beats after it (the QRS detector restarts at the hole): the check goes on in the next detector', () => {
    const o = run({ rhythm: [{ rrMs: 550, count: 545 }], leadOffS: 3, reversed: true, lostFrameAfterS: 4 });
    expect(o.vt).toEqual([]);
    expect(count(o.after, 'V')).toBe(0);
  });

  for (const [restartAfterS, when] of [[0, 'in the lead-off'], [2, 'at its last frame'], [3, 'in the first beats after it'], [4, 'a second later']] as const) {
    it(`restart ${when}: the beats after it read N and no VT alarm, as without the restart`, () => {
      const o = run({ rhythm: [{ rrMs: 550, count: 545 }], leadOffS: 3, reversed: true, restartAfterS });
      expect(o.vt).toEqual([]);
      expect(o.after.length).toBeGreaterThan(250);
      expect(count(o.after, 'V')).toBe(0);
    });
  }
});
