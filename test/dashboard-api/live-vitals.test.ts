/**
 * The board's live heart rate (dashboard-api/live-vitals.ts): between beats, in a silence, and
 * for a device that sends ECG without beats (its beats come from the processor's QRS detector).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Beat, TelemetryFrame, TelemetryRecord } from '../../contracts/telemetry.ts';
import { LiveVitals } from '../../dashboard-api/live-vitals.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import type { ConsumedMessage } from '../../platform/bus/index.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import type { DerivedBeatFrame, DerivedVitalsRecord } from '../../processor/store-sink.ts';
import { beats, frames, startHarness, T0, until, type Harness } from '../processor/helpers.ts';

const message = (value: object) => ({ value: Buffer.from(JSON.stringify(value)) }) as ConsumedMessage;

/** A telemetry frame of device d1 for patient p1 covering [ts, ts + 1 s). */
function telemetry(ts: number, frame: Partial<TelemetryFrame> = {}): ConsumedMessage {
  const record: TelemetryRecord = {
    schema: 'pb.telemetry.v1', deviceId: 'd1', patientId: 'p1', format: 'json-v1', receivedAt: ts,
    frame: { seq: ts, ts, durMs: 1000, hr: 0, battery: 80, leadOff: false, beats: [], ...frame },
  };
  return message(record);
}

/** Firmware frames of a regular rhythm: beats every `rrMs` from T0, frames of 1 s from T0 for `seconds`. */
function rhythm(rrMs: number, seconds: number, from = T0): ConsumedMessage[] {
  const out: ConsumedMessage[] = [];
  for (let s = 0; s < seconds; s++) {
    const ts = from + s * 1000;
    const frameBeats: Beat[] = [];
    for (let t = Math.ceil((ts - from) / rrMs) * rrMs; t < ts - from + 1000; t += rrMs) frameBeats.push({ off: from + t - ts, rr: t === 0 ? 0 : rrMs, cls: 'N' });
    out.push(telemetry(ts, { beats: frameBeats }));
  }
  return out;
}

function derived(...list: Omit<DerivedBeatFrame, 'patientId' | 'deviceId'>[]): ConsumedMessage {
  const record: DerivedVitalsRecord = { schema: 'pb.derived-vitals.v1', points: { heartRate: [], rr: [] }, frames: list.map((f) => ({ patientId: 'p1', deviceId: 'd1', ...f })) };
  return message(record);
}

const live = () => new LiveVitals({ bus: new InProcessBus(), logger: silentLogger });

describe('live heart rate between beats', () => {
  it('keeps the rate through a frame without a beat: 50 bpm in 1 s frames never shows 0', () => {
    const lv = live();
    const shown: (number | null)[] = [];
    for (const m of rhythm(1200, 12)) {
      lv.ingest([m]);
      shown.push(lv.get('p1')!.hrBpm);
    }
    // The first frame's beat has no interval yet; frames 5 and 11 hold no beat.
    expect(shown).toEqual([null, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50]);
    expect(lv.get('p1')!.hrHistory.every(([, bpm]) => bpm === 50)).toBe(true);
  });

  it('shows an asystole as a falling rate: held for 1.5 intervals, then 60000 / the silence', () => {
    const lv = live();
    // 60 bpm, beats at 0 … 9000 ms; then no beat.
    lv.ingest(rhythm(1000, 10));
    const silent: (number | null)[] = [];
    for (let s = 10; s < 15; s++) {
      lv.ingest([telemetry(T0 + s * 1000)]);
      silent.push(lv.get('p1')!.hrBpm);
    }
    // Silence at the frame ends: 2, 3, 4, 5, 6 s (the last beat at 9 s).
    expect(silent).toEqual([30, 20, 15, 12, 10]);
    expect(lv.get('p1')!.beatClasses).toBe('');
  });

  it('knows no rate after a lead-off until an interval is measured again', () => {
    const lv = live();
    lv.ingest(rhythm(800, 5));
    lv.ingest([telemetry(T0 + 5000, { leadOff: true, beats: [] })]);
    expect(lv.get('p1')!.hrBpm).toBeNull();
    lv.ingest([telemetry(T0 + 6000)]);
    expect(lv.get('p1')!.hrBpm).toBeNull();
    lv.ingest([telemetry(T0 + 7000, { beats: [{ off: 200, rr: 0, cls: 'N' }] })]);
    expect(lv.get('p1')!.hrBpm).toBeNull();
    lv.ingest([telemetry(T0 + 8000, { beats: [{ off: 0, rr: 800, cls: 'N' }, { off: 800, rr: 800, cls: 'N' }] })]);
    expect(lv.get('p1')!.hrBpm).toBe(75);
  });
});

/** Firmware frames of 1 s from T0 with beats at the given RR intervals (the first beat at T0 + 200 ms, its interval unknown). */
function rrSequence(rrMs: readonly number[]): ConsumedMessage[] {
  const times = [T0 + 200];
  for (const rr of rrMs) times.push(times.at(-1)! + rr);
  const out: ConsumedMessage[] = [];
  for (let ts = T0; ts <= times.at(-1)!; ts += 1000) {
    const frameBeats = times.flatMap((t, i) => (t >= ts && t < ts + 1000 ? [{ off: t - ts, rr: i === 0 ? 0 : rrMs[i - 1]!, cls: 'N' as const }] : []));
    out.push(telemetry(ts, { beats: frameBeats }));
  }
  return out;
}

// Cardiologist walk #7: in mitdb 106's bigeminy the tile read 61, 136, 83, 63, 125, … every second.
describe('averaged heart rate (hrAvgBpm: what the board shows)', () => {
  it('is steady in bigeminy (RR 0.45 / 1.0 s alternating: 2 beats per 1.45 s = 82.8/min) while the beat-to-beat rate flips', () => {
    const lv = live();
    const shown: { hrBpm: number | null; hrAvgBpm: number | null }[] = [];
    for (const m of rrSequence(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 450 : 1000)))) {
      lv.ingest([m]);
      const p = lv.get('p1')!;
      shown.push({ hrBpm: p.hrBpm, hrAvgBpm: p.hrAvgBpm });
    }
    // From the 12th interval on (≈ 9 s), every frame shows the same average: 12 intervals, 6 of each,
    // without the longest and shortest: 5 × 450 + 5 × 1000 → mean 725 ms.
    const settled = shown.slice(9);
    expect(settled.length).toBeGreaterThan(15);
    expect(new Set(settled.map((x) => x.hrAvgBpm))).toEqual(new Set([82.8]));
    // The beat-to-beat rate of the same frames (the contract's hrBpm, unchanged) spans 60 … 133.
    const beatToBeat = settled.map((x) => x.hrBpm!);
    expect(Math.min(...beatToBeat)).toBe(60);
    expect(Math.max(...beatToBeat)).toBeCloseTo(133.3, 1);
    // The sparkline follows the shown (averaged) rate.
    expect(new Set(lv.get('p1')!.hrHistory.slice(9).map(([, bpm]) => bpm))).toEqual(new Set([82.8]));
  });

  it('still falls in a silence: no average hides an asystole', () => {
    const lv = live();
    // Bigeminy for 30 intervals (the last beat at T0 + 200 + 15 × 1450 = T0 + 21 950 ms), then no beat.
    lv.ingest(rrSequence(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 450 : 1000))));
    expect(lv.get('p1')!.hrAvgBpm).toBe(82.8);
    const silent: (number | null)[] = [];
    for (let s = 22; s < 27; s++) {
      lv.ingest([telemetry(T0 + s * 1000)]);
      silent.push(lv.get('p1')!.hrAvgBpm);
    }
    // Frame ends 23 … 27 s: silence 1.05 s (≤ 1.5 × 725 ms: held), then 60000 / 2.05, 3.05, 4.05, 5.05 s.
    expect(silent).toEqual([82.8, 29.3, 19.7, 14.8, 11.9]);
    expect(lv.get('p1')!.hrHistory.slice(-4).map(([, bpm]) => bpm)).toEqual([29.3, 19.7, 14.8, 11.9]);
  });

  it('follows a sudden slowing within 4 beats (the last 4 intervals once 3 are > 1.2 s) and forgets everything at a lead-off', () => {
    const lv = live();
    lv.ingest(rrSequence([...new Array<number>(20).fill(800), 1700, 1700, 1700]));
    // 75/min, then 3 intervals of 1.7 s: the mean of the last 4 (800, 1700, 1700, 1700) = 1475 ms.
    expect(lv.get('p1')!.hrAvgBpm).toBe(40.7);
    lv.ingest([telemetry(T0 + 40_000, { leadOff: true })]);
    expect(lv.get('p1')).toMatchObject({ hrBpm: null, hrAvgBpm: null });
    lv.ingest([telemetry(T0 + 41_000, { beats: [{ off: 0, rr: 0, cls: 'N' }, { off: 500, rr: 500, cls: 'N' }] })]);
    expect(lv.get('p1')).toMatchObject({ hrBpm: 120, hrAvgBpm: 120 });
  });
});

describe('live heart rate of a device that sends ECG only', () => {
  const ecg = { fs: 250, uV: new Array<number>(250).fill(0) };

  it('takes rate and beat classes from the processor\'s derived frames; its own frames without beats do not show 0', () => {
    const lv = live();
    lv.ingest([telemetry(T0, { ecg })]);
    expect(lv.get('p1')!.hrBpm).toBeNull(); // nothing derived yet: unknown, not 0
    lv.ingestDerived([derived({ ts: T0, durMs: 1000, beats: [{ off: 100, rr: 0, cls: 'N' }, { off: 900, rr: 800, cls: 'N' }] })]);
    expect(lv.get('p1')).toMatchObject({ hrBpm: 75, hrAvgBpm: 75, beatClasses: 'NN' });
    lv.ingest([telemetry(T0 + 1000, { ecg })]);
    expect(lv.get('p1')).toMatchObject({ hrBpm: 75, beatClasses: 'NN', deviceTimeMs: T0 + 2000 });
    lv.ingestDerived([derived({ ts: T0 + 1000, durMs: 800, beats: [{ off: 500, rr: 600, cls: 'V' }] })]);
    // Averaged over the derived intervals too: (800 + 600) / 2 = 700 ms.
    expect(lv.get('p1')).toMatchObject({ hrBpm: 100, hrAvgBpm: 85.7, beatClasses: 'V' });
    // A derived frame already folded (re-delivered) changes nothing.
    lv.ingestDerived([derived({ ts: T0 + 1000, durMs: 800, beats: [{ off: 100, rr: 200, cls: 'N' }] })]);
    expect(lv.get('p1')).toMatchObject({ hrBpm: 100, beatClasses: 'V' });
    // A derived silence falls like a firmware one: last beat at T0 + 1500, 100 bpm.
    lv.ingestDerived([derived({ ts: T0 + 1800, durMs: 2700, beats: [] })]);
    expect(lv.get('p1')).toMatchObject({ hrBpm: 20, hrAvgBpm: 20, beatClasses: '' });
  });

  it('shows the rate as unknown when the derived beats fall more than 10 s behind the frames (processor behind or down)', () => {
    const lv = live();
    lv.ingest([telemetry(T0, { ecg })]);
    lv.ingestDerived([derived({ ts: T0, durMs: 1000, beats: [{ off: 100, rr: 800, cls: 'N' }, { off: 900, rr: 800, cls: 'N' }] })]);
    lv.ingest([telemetry(T0 + 10_000, { ecg })]);
    expect(lv.get('p1')!.hrBpm).toBe(75); // 10 s behind the frame's end: within the allowance
    lv.ingest([telemetry(T0 + 10_001, { ecg, durMs: 999 })]);
    expect(lv.get('p1')!.hrBpm).toBe(75);
    lv.ingest([telemetry(T0 + 11_000, { ecg })]);
    expect(lv.get('p1')).toMatchObject({ hrBpm: null, beatClasses: '' });
  });

  it('ignores derived frames that firmware beats came after', () => {
    const lv = live();
    lv.ingest(rhythm(1000, 3));
    lv.ingestDerived([derived({ ts: T0 + 1000, durMs: 1000, beats: [{ off: 500, rr: 400, cls: 'V' }] })]);
    expect(lv.get('p1')).toMatchObject({ hrBpm: 60, beatClasses: 'N' });
  });
});

describe('live heart rate through the processor (ECG-only device, in-process bus)', () => {
  let h: Harness | undefined;
  let lv: LiveVitals | undefined;
  afterEach(async () => {
    await lv?.stop();
    await h?.processor.stop();
    h = lv = undefined;
  });

  it('follows the rhythm the processor finds in the ECG: 75 bpm, a 5 s silence, VT at 150 bpm', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    lv = new LiveVitals({ bus, logger: silentLogger });
    await lv.start();
    // 30 s sinus at 75 bpm, 5 s without a QRS, 20 s sinus, 10 ventricular beats at 150 bpm, 20 s sinus.
    const timeline = beats(T0, [{ rrMs: 800, count: 37 }, { rrMs: 5000, count: 1 }, { rrMs: 800, count: 25 }, { rrMs: 400, count: 10, cls: 'V' }, { rrMs: 800, count: 25 }]);
    const sent = frames(timeline, 80_000, { ecg: syntheticEcgSource(3, 250), ecgFsHz: 250 }).map((f) => ({ ...f, beats: [], hr: 0 }));
    const shown: { endMs: number; hrBpm: number | null; classes: string }[] = [];
    for (const f of sent) {
      await h.send([f]);
      await until('the board to see the frame', () => lv!.get('p1')?.deviceTimeMs === f.ts + f.durMs);
      const p = lv.get('p1')!;
      shown.push({ endMs: p.deviceTimeMs, hrBpm: p.hrBpm, classes: p.beatClasses });
    }
    const silenceFrom = timeline[36]!.tMs;
    const vtFrom = timeline.find((b) => b.cls === 'V')!.tMs;
    const sinus = shown.filter((s) => s.endMs > T0 + 5000 && s.endMs < silenceFrom);
    expect(sinus.every((s) => s.hrBpm !== null && Math.abs(s.hrBpm - 75) <= 2 && /^N+$/.test(s.classes))).toBe(true);
    // The silence reaches the board as a falling rate before the next beat (derived frames
    // without a beat), once the QRS detector has ruled out a missed beat (its search-back).
    const inSilence = shown.filter((s) => s.endMs > silenceFrom && s.endMs < silenceFrom + 6000);
    expect(inSilence.some((s) => s.classes === '' && s.hrBpm !== null && s.hrBpm < 20)).toBe(true);
    // The VT run: its ventricular beats and their rate (≈ 150 bpm) reach the tile.
    const inVt = shown.filter((s) => s.endMs > vtFrom && s.endMs <= vtFrom + 4000 + 3000);
    expect(inVt.some((s) => s.classes.includes('V') && s.hrBpm !== null && s.hrBpm >= 140)).toBe(true);
    expect(shown.every((s) => s.hrBpm !== 0)).toBe(true);
  });
});
