import { expect, test } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { EcgStripRecorder, raisedPhysiological } from '../../processor/ecg-strips.ts';

const T0 = Date.UTC(2026, 2, 1, 10, 0, 0);
const FS = 250;

/** One 1 s frame starting at T0 + second·1000; sample i carries the value second·1000 + i (easy to check). */
function frame(second: number, o: { leadOff?: boolean; ecg?: boolean } = {}): TelemetryFrame {
  return {
    seq: second, ts: T0 + second * 1000, durMs: 1000, hr: 60, battery: 90, leadOff: o.leadOff ?? false,
    beats: [{ off: 500, rr: 1000, cls: second === 20 ? 'V' : 'N' }],
    ...(o.ecg === false ? {} : { ecg: { fs: FS, uV: Array.from({ length: FS }, (_, i) => (second * 1000 + i) % 30000) } }),
  };
}
const alertAt = (onsetMs: number, id = 'al-1'): Pick<Alert, 'id' | 'kind' | 'onset'> => ({ id, kind: 'asystole', onset: new Date(onsetMs).toISOString() });

test('a strip spans PRE before to POST after the onset, handed out once the post window passed on device time', () => {
  const r = new EcgStripRecorder('p1', 'd1', { preS: 8, postS: 8 });
  for (let s = 0; s < 22; s++) expect(r.addFrame(frame(s))).toEqual([]);
  expect(r.capture(alertAt(T0 + 20_000))).toEqual([]); // needs device time up to T0 + 28 s
  for (let s = 22; s < 27; s++) expect(r.addFrame(frame(s))).toEqual([]);
  const [strip, ...rest] = r.addFrame(frame(27));
  expect(rest).toEqual([]);
  expect(strip).toMatchObject({ schema: 'pb.ecg-strip.v1', alertId: 'al-1', kind: 'asystole', patientId: 'p1', deviceId: 'd1', startMs: T0 + 12_000, fsHz: FS, leadOff: [] });
  expect(strip!.uV).toHaveLength(16 * FS);
  expect(strip!.uV[0]).toBe(12_000); // sample 0 of the frame at 12 s
  expect(strip!.uV[FS * 8 + 3]).toBe(20_003); // the onset second
  expect(strip!.uV.at(-1)).toBe(27_249);
  expect(strip!.uV.every((v) => v !== null)).toBe(true);
  expect(strip!.beats).toHaveLength(16);
  expect(strip!.beats[8]).toEqual({ timeMs: T0 + 20_500, cls: 'V' });
  expect(r.pendingCount).toBe(0);
});

test('missing frames and the part before the ring are null; lead-off frames are null and listed as ranges', () => {
  const r = new EcgStripRecorder('p1', 'd1', { preS: 8, postS: 8, historyMs: 16_000 });
  for (let s = 0; s < 40; s++) {
    if (s === 33) continue; // a lost frame
    r.addFrame(frame(s, { leadOff: s === 35 || s === 36 }));
  }
  // Ring: 16 s behind the newest frame (ends at 40 s), so 24 s onwards. Onset 30 s → strip from 22 s.
  const [strip] = r.capture(alertAt(T0 + 30_000, 'al-late'));
  expect(strip!.startMs).toBe(T0 + 22_000);
  const firstKnown = strip!.uV.findIndex((v) => v !== null);
  expect(firstKnown).toBe(2 * FS); // 22–24 s had left the ring
  expect(strip!.uV.slice(11 * FS, 12 * FS).every((v) => v === null)).toBe(true); // 33 s missing
  expect(strip!.leadOff).toEqual([[13 * FS, 15 * FS]]);
  expect(strip!.uV.slice(13 * FS, 15 * FS).every((v) => v === null)).toBe(true);
  expect(strip!.beats.map((b) => b.timeMs - T0)).toEqual([24_500, 25_500, 26_500, 27_500, 28_500, 29_500, 30_500, 31_500, 32_500, 34_500, 37_500]);
});

test('keeps only its history behind the newest frame, unless a capture still needs older frames', () => {
  const r = new EcgStripRecorder('p1', 'd1', { preS: 8, postS: 8, historyMs: 20_000 });
  for (let s = 0; s < 100; s++) r.addFrame(frame(s));
  expect(r.heldFrames).toBe(20);
  expect(r.capture(alertAt(T0 + 95_000))).toEqual([]);
  // flush (device went silent) hands out what there is: data up to 100 s, the rest of the post window empty.
  const [strip] = r.flush();
  expect(strip!.uV.slice(0, 13 * FS).every((v) => v !== null)).toBe(true);
  expect(strip!.uV.slice(13 * FS).every((v) => v === null)).toBe(true);
  expect(r.flush()).toEqual([]);
});

test('a capture is taken once per alert id; only newly raised physiological alerts are captured', () => {
  const r = new EcgStripRecorder('p1', 'd1');
  r.addFrame(frame(0));
  r.capture(alertAt(T0 + 500));
  r.capture(alertAt(T0 + 500));
  expect(r.pendingCount).toBe(1);
  const base = { patientId: 'p1', deviceId: 'd1', state: 'active', onset: '', detectedAt: '', updatedAt: '', evidence: { criterion: '', thresholds: {} } } as const;
  const alerts = [
    { ...base, id: 'a', kind: 'asystole', category: 'physiological', priority: 'high', revision: 1 },
    { ...base, id: 'b', kind: 'asystole', category: 'physiological', priority: 'high', revision: 2 },
    { ...base, id: 'c', kind: 'lead_off', category: 'technical', priority: 'low', revision: 1 },
  ] satisfies Alert[];
  expect(raisedPhysiological(alerts).map((a) => a.id)).toEqual(['a']);
});

test('an ECG-only stream: derived beats annotate the frames they fall in, and the strip waits for them (at most 6 s)', () => {
  const ecgOnly = (second: number): TelemetryFrame => ({ ...frame(second), beats: [] });
  const r = new EcgStripRecorder('p1', 'd1', { preS: 8, postS: 8 });
  for (let s = 0; s < 22; s++) r.addFrame(ecgOnly(s));
  // Derived beats final up to T0 + 21 s (the QRS detector's lag behind the ECG).
  r.addDerivedBeats(Array.from({ length: 21 }, (_, s) => ({ timeMs: T0 + s * 1000 + 500, cls: s === 20 ? 'V' : 'N' })), T0 + 21_000);
  expect(r.capture(alertAt(T0 + 20_000))).toEqual([]);
  for (let s = 22; s < 28; s++) expect(r.addFrame(ecgOnly(s))).toEqual([]); // the ECG is past onset + POST, its beats are not
  const [strip] = r.addDerivedBeats(Array.from({ length: 7 }, (_, i) => ({ timeMs: T0 + (21 + i) * 1000 + 500, cls: 'N' })), T0 + 28_000);
  expect(strip!.beats).toHaveLength(16);
  expect(strip!.beats[8]).toEqual({ timeMs: T0 + 20_500, cls: 'V' });
  // Derived beats that stop coming (processor in a silence, lead-off): the strip goes out 6 s late.
  const late = new EcgStripRecorder('p1', 'd1', { preS: 8, postS: 8 });
  for (let s = 0; s < 22; s++) late.addFrame(ecgOnly(s));
  late.addDerivedBeats([], T0 + 21_000);
  late.capture(alertAt(T0 + 20_000));
  for (let s = 22; s < 33; s++) expect(late.addFrame(ecgOnly(s))).toEqual([]);
  expect(late.addFrame(ecgOnly(33))).toHaveLength(1);
});
