import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { beats, frames, processorSnapshots, startHarness, T0, type Harness } from './helpers.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { createLogger } from '../../platform/log.ts';
import { decodeV1 } from '../../gateway/decode-v1.ts';
import { pacedEcg } from './detectors/paced-ecg.ts';
import { QrsDetector } from '../../processor/detectors/qrs-detector.ts';

/** What an ECG-only device sends: frames with 250 Hz ECG, no beats, hr 0. */
const ecgOnly = (list: TelemetryFrame[]) => list.map((f) => ({ ...f, beats: [], hr: 0 }));

let h: Harness | undefined;
afterEach(async () => { await h?.processor.stop(); h = undefined; });

describe('processor with an ECG-only device (beats detected from the ECG, issue 12)', () => {
  it('raises asystole and VT from the ECG alone, at the onsets the beats would give, and nothing on the sinus rhythm around them', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    // 30 s sinus at 75 bpm, 5 s without a QRS, 20 s sinus, 10 ventricular beats at 150 bpm, 20 s sinus.
    const timeline = beats(T0, [{ rrMs: 800, count: 37 }, { rrMs: 5000, count: 1 }, { rrMs: 800, count: 25 }, { rrMs: 400, count: 10, cls: 'V' }, { rrMs: 800, count: 25 }]);
    const sent = ecgOnly(frames(timeline, 80_000, { ecg: syntheticEcgSource(3, 250), ecgFsHz: 250 }));
    expect(sent.every((f) => f.beats.length === 0 && f.ecg?.uV.length === 250)).toBe(true);
    await h.send(sent);
    const onsets = (kind: string) => [...new Set(processorSnapshots(bus).filter((a) => a.kind === kind).map((a) => a.onset))];
    const lastBeforeSilence = timeline[36]!.tMs;
    const firstV = timeline.find((b) => b.cls === 'V')!.tMs;
    const near = (onset: string | undefined, ms: number) => onset !== undefined && Math.abs(Date.parse(onset) - ms) <= 50;
    expect(onsets('asystole')).toHaveLength(1);
    expect(near(onsets('asystole')[0], lastBeforeSilence)).toBe(true);
    expect(onsets('vt')).toHaveLength(1);
    expect(near(onsets('vt')[0], firstV)).toBe(true);
    // The detected beats are stored like firmware beats: RR points with their class.
    const rr = await h.store.queryRr('p1', T0, T0 + 80_000);
    expect(rr.length).toBeGreaterThan(timeline.length - 5);
    expect(rr.filter((p) => p.cls === 'V').length).toBeGreaterThanOrEqual(8);
    expect((await h.store.queryHeartRate('p1', T0, T0 + 80_000)).length).toBeGreaterThan(50);
    // Nothing else (issue 12 defaults): the silence is an asystole, not also a pause; the short VT
    // run is past no tachycardia alarm delay.
    expect(new Set(processorSnapshots(bus).map((a) => a.kind))).toEqual(new Set(['asystole', 'vt']));
    // The ECG strip around the VT carries the detected beats as annotations, to its end (the
    // frames it is cut from carry none), with the run's ventricular beats.
    const vt = processorSnapshots(bus).find((a) => a.kind === 'vt')!;
    const strip = await h.store.getEcgStrip('p1', vt.id);
    const inStrip = timeline.filter((b) => b.tMs >= strip!.startMs && b.tMs < strip!.startMs + 16_000);
    expect(strip!.beats.length).toBeGreaterThanOrEqual(inStrip.length - 1);
    expect(strip!.beats.filter((b) => b.cls === 'V').length).toBeGreaterThanOrEqual(8);
    expect(strip!.beats.at(-1)!.timeMs).toBeGreaterThan(strip!.startMs + 15_000);
  });

  it('raises the asystole of an ECG-only device while the silence goes on, within 2 s of device time of its 4 s criterion', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    // 30 s sinus at 50 bpm, then no QRS at all. The frames stop 2 s after the criterion (last
    // beat + 4 s) holds: the alarm must be out by then, not wait for beats to come back (it used
    // to, up to 17 s late: the beat source held its output back; ecg-beats.test.ts).
    const timeline = beats(T0, [{ rrMs: 1200, count: 25 }]);
    const lastMs = timeline.at(-1)!.tMs;
    const all = ecgOnly(frames(timeline, 60_000, { ecg: syntheticEcgSource(1, 250), ecgFsHz: 250 }));
    await h.send(all.filter((f) => f.ts + f.durMs <= lastMs + 4000 + 2000));
    const asystole = processorSnapshots(bus).filter((a) => a.kind === 'asystole');
    expect(asystole).toHaveLength(1);
    expect(Math.abs(Date.parse(asystole[0]!.onset) - lastMs)).toBeLessThanOrEqual(50);
  });

  it('keeps using the firmware beats of a device that sends them (the ECG is not re-detected): a 5 s silence it reports over an ECG without QRS is an asystole from its last beat', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    // (Over an ECG that shows the patient's complexes, the same silence is the firmware's beat
    // output failing, and the processor's own beats take over: ecg-beats.ts FIRMWARE_OUTAGE_BEATS,
    // test/processor/ecg-beats.test.ts.)
    const firmware = beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 5000, count: 1 }, { rrMs: 800, count: 20 }]);
    const withEcg = frames(firmware, 40_000, { ecg: syntheticEcgSource(3, 250), ecgFsHz: 250 });
    await h.send(withEcg);
    const asystole = processorSnapshots(bus).filter((a) => a.kind === 'asystole');
    expect(new Set(asystole.map((a) => a.onset))).toEqual(new Set([new Date(firmware[19]!.tMs).toISOString()]));
  });

  it('a firmware whose beat output fails while the ECG shows the patient\'s complexes: no asystole, the failure counted in pb_processor_firmware_beat_outages_total and logged once', async () => {
    const bus = new InProcessBus();
    const lines: string[] = [];
    h = await startHarness({ bus, logger: createLogger('info', {}, (l) => lines.push(l)) });
    // Firmware beats for 20 s, then 20 s of frames with the same sinus ECG but no beats.
    const sinus = frames(beats(T0, [{ rrMs: 800, count: 50 }]), 40_000, { ecg: syntheticEcgSource(3, 250), ecgFsHz: 250 });
    await h.send(sinus.map((f) => (f.ts >= T0 + 20_000 ? { ...f, beats: [], hr: 0 } : f)));
    expect(processorSnapshots(bus).filter((a) => a.kind === 'asystole')).toEqual([]);
    expect(h.metrics.counter('pb_processor_firmware_beat_outages_total', '').get()).toBe(1);
    const logged = lines.filter((l) => l.includes('firmware sends no beats'));
    expect(logged).toHaveLength(1);
    // (With the last firmware beat: 19.2 s; the one at 20 s is in the first frame without beats.)
    expect(logged[0]).toContain(new Date(T0 + 19_200).toISOString());
  });

  it('a paced patient whose device flags pacer pulses (JSON v1 ecg.pace, decoded by the gateway): loss of capture raises the asystole; the paced beats are stored as Q', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    // Ventricular pacing at 70/min; capture lost from 30 s to 45 s while the pulses go on.
    const d = pacedEcg(250, 70, 857, (t) => t < 30_000 || t >= 45_000);
    const sent: TelemetryFrame[] = [];
    for (let s = 0; s < 70; s++) {
      const pace = d.pace.filter((p) => p >= s * 250 && p < (s + 1) * 250).map((p) => p - s * 250);
      const payload = { v: 1, seq: s, ts: T0 + s * 1000, durMs: 1000, hr: 0, battery: 90, leadOff: false, beats: [], ecg: { fs: 250, uV: Array.from(d.x.subarray(s * 250, (s + 1) * 250), Math.round), pace } };
      const decoded = decodeV1(Buffer.from(JSON.stringify(payload)));
      if (!decoded.ok) throw new Error(decoded.detail);
      sent.push(decoded.frame);
    }
    await h.send(sent);
    const asystole = processorSnapshots(bus).filter((a) => a.kind === 'asystole');
    const lastCaptured = T0 + Math.max(...d.beatsMs.filter((t) => t < 30_000));
    expect(new Set(asystole.map((a) => a.onset)).size).toBe(1);
    expect(Math.abs(Date.parse(asystole[0]!.onset) - lastCaptured)).toBeLessThanOrEqual(20);
    expect(new Set(processorSnapshots(bus).map((a) => a.kind))).toEqual(new Set(['asystole']));
    const rr = await h.store.queryRr('p1', T0, T0 + 70_000);
    expect(rr.length).toBeGreaterThan(50);
    expect(rr.every((p) => p.cls === 'Q')).toBe(true);
  });

  it('counts derived beats dropped for being found too late in pb_processor_ecg_beats_dropped_total (0 with the real bound)', async () => {
    const dropped = () => h!.metrics.counter('pb_processor_ecg_beats_dropped_total', '').get();
    const timeline = beats(T0, [{ rrMs: 800, count: 35 }]);
    const sent = ecgOnly(frames(timeline, 30_000, { ecg: syntheticEcgSource(2, 250), ecgFsHz: 250 }));
    h = await startHarness();
    await h.send(sent);
    expect(dropped()).toBe(0);
    await h.stop();
    // A QRS detector whose bound claims every sample so far is final: the beats in its lag are late
    // (those in the last ≈ 0.6 s of each 1 s frame: 14 of 35 since session 29, when beats became final sooner).
    const lying = vi.spyOn(QrsDetector.prototype, 'finalBefore', 'get').mockImplementation(function (this: QrsDetector) { return this.samples; });
    try {
      h = await startHarness();
      await h.send(sent);
      expect(dropped()).toBeGreaterThan(10);
    } finally {
      lying.mockRestore();
    }
  });
});
