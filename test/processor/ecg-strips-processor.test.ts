/**
 * The processor's ECG strips: a scripted asystole from a device that sends ECG yields one strip
 * around the onset, stored and published once the post window has passed on device time; a
 * device without ECG yields none.
 */
import { afterEach, expect, test } from 'vitest';
import type { EcgStrip } from '../../contracts/ecg-strip.ts';
import { ECG_STRIP_POST_S, ECG_STRIP_PRE_S } from '../../contracts/ecg-strip.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { beats, CrashingBus, frames, messages, processorSnapshots, startHarness, T0, until, type Harness } from './helpers.ts';

let h: Harness | undefined;
afterEach(async () => { await h?.stop(); h = undefined; });

const published = (bus: InProcessBus) => bus.read(STREAMS.ecgStrips).map((m) => ({ key: String(m.key), strip: JSON.parse(m.value.toString()) as EcgStrip }));

// 20 s at 60 bpm, 8 s without a beat (asystole), then 60 bpm again.
const rhythm = beats(T0, [{ rrMs: 1000, count: 20 }, { rrMs: 9000, count: 1 }, { rrMs: 1000, count: 30 }]);

test('an asystole from a device with ECG gives a strip around its onset, stored and published after the post window', async () => {
  h = await startHarness();
  const all = frames(rhythm, 60_000, { ecg: syntheticEcgSource(7), ecgFsHz: 250 });
  // The last beat before the pause is at T0 + 20 s: the asystole's onset. Frames up to onset + POST
  // (device time) do not complete the strip …
  const onsetMs = T0 + 20_000;
  const postEndFrame = all.findIndex((f) => f.ts + f.durMs >= onsetMs + ECG_STRIP_POST_S * 1000);
  await h.send(all.slice(0, postEndFrame));
  expect(published(h.bus as InProcessBus)).toEqual([]);
  // … the rest does (once the reorder buffer released the frames that cover it).
  await h.send(all.slice(postEndFrame));
  const asystole = processorSnapshots(h.bus as InProcessBus).find((a) => a.kind === 'asystole');
  expect(asystole?.onset).toBe(new Date(onsetMs).toISOString());
  // The raised alert says a strip will follow (the EHR exporter waits for it).
  expect(asystole?.ecgStrip).toBe(true);

  const strips = published(h.bus as InProcessBus);
  // One per raised physiological alert: the 9 s gap is an asystole (not also a pause: one alarm per silence).
  expect(strips.map((s) => s.strip.kind).sort()).toEqual(['asystole']);
  const { key, strip } = strips.find((s) => s.strip.kind === 'asystole')!;
  expect(key).toBe('p1');
  expect(strip).toMatchObject({ schema: 'pb.ecg-strip.v1', alertId: asystole!.id, kind: 'asystole', patientId: 'p1', deviceId: 'd1', startMs: onsetMs - ECG_STRIP_PRE_S * 1000, fsHz: 250, leadOff: [] });
  expect(strip.uV).toHaveLength((ECG_STRIP_PRE_S + ECG_STRIP_POST_S) * 250);
  expect(strip.uV.every((v) => typeof v === 'number')).toBe(true);
  // The beats before the pause and none inside it.
  const beatTimes = strip.beats.map((b) => b.timeMs);
  expect(beatTimes.every((t) => t >= strip.startMs && t < strip.startMs + 16_000)).toBe(true);
  expect(beatTimes.filter((t) => t > onsetMs && t < onsetMs + 8000)).toEqual([]);
  expect(await h.store.getEcgStrip('p1', asystole!.id)).toEqual(strip);
});

test('a device that sends no ECG yields no strip, and its raised alert says so (the EHR exporter does not wait for one)', async () => {
  h = await startHarness();
  await h.send(frames(rhythm, 60_000));
  const asystole = processorSnapshots(h.bus as InProcessBus).find((a) => a.kind === 'asystole');
  expect(asystole?.ecgStrip).toBe(false);
  expect(published(h.bus as InProcessBus)).toEqual([]);
});

test('a device that goes silent in the post window: the strip is handed out at signal loss with what arrived', async () => {
  h = await startHarness();
  const all = frames(rhythm, 60_000, { ecg: syntheticEcgSource(7), ecgFsHz: 250 });
  await h.send(all.slice(0, 26));
  expect(published(h.bus as InProcessBus)).toEqual([]);
  await h.advance(15_000);
  const strips = published(h.bus as InProcessBus);
  expect(strips.map((s) => s.strip.kind).sort()).toEqual(['asystole']);
  expect(strips[0]!.strip.uV.at(-1)).toBeNull();
  expect(strips[0]!.strip.uV[0]).not.toBeNull();
});

test('a processor that crashes while a strip waits for its post window: its successor publishes the whole strip, as an uninterrupted one does', async () => {
  const all = frames(rhythm, 60_000, { ecg: syntheticEcgSource(7), ecgFsHz: 250 });
  const stripsOf = async (crash: { from: number; at: number } | undefined) => {
    // Batches of at most 40 frames; the frames before `from` are one committed batch, `from`…`at` the uncommitted one.
    const inner = new InProcessBus({ maxBatch: 40 });
    const bus = new CrashingBus(inner);
    const common = { bus, groupId: 'strip-crash', fromBeginning: false, lifecycle: { escalationDelaysMs: [] as number[] } };
    const seen = () => inner.read(STREAMS.telemetry).length;
    let p = await startHarness({ ...common, instanceId: 'a' });
    const taken = (x: Harness) => x.metrics.counter('pb_processor_frames_total', '').get();
    if (crash) {
      await inner.publish(STREAMS.telemetry, messages(all.slice(0, crash.from)));
      await until('the first part', () => taken(p) >= crash.from);
      await p.processor.settled();
      const lastSeq = all[crash.at]!.seq;
      bus.crashAfter = (batch) => batch.some((m) => (JSON.parse(m.value.toString()) as { frame: { seq: number } }).frame.seq === lastSeq);
      await inner.publish(STREAMS.telemetry, messages(all.slice(crash.from, crash.at + 1)));
      await until('the crash', () => bus.crashed);
      await p.processor.settled();
      await p.stop();
      bus.crashed = false;
      bus.crashAfter = undefined;
      p = await startHarness({ ...common, instanceId: 'b' });
    }
    const rest = crash ? all.slice(crash.at + 1) : all;
    const before = seen();
    await inner.publish(STREAMS.telemetry, messages(rest));
    await until('the rest', () => seen() >= before + rest.length && taken(p) >= rest.length);
    await p.processor.settled();
    await p.stop();
    return published(inner).map((x) => x.strip);
  };
  const reference = await stripsOf(undefined);
  expect(reference.map((s) => s.kind)).toEqual(['asystole']);
  // The asystole is raised at 24 s; its strip needs the ECG up to 28 s. Crash after the frame at
  // 25 s, with the frames from 23 s not committed: the successor reads from 23 s on.
  const crashed = await stripsOf({ from: 23, at: 25 });
  expect(crashed).toEqual(reference);
});
