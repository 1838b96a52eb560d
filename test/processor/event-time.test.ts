/**
 * Event-time semantics (issue 4 §3): the same frames give the same alerts whatever the arrival
 * speed, batching and (within the 5 s tolerance) order; later frames are counted late, stored
 * and not analysed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { beats, frames, messages, processorSnapshots, startHarness, T0, until, type Harness } from './helpers.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/**
 * 3 minutes with a pause, an extreme bradycardia run, a bradycardia, a VT run and a
 * tachycardia. The limit alarms (brady, tachy) open after their alarm delay, 30 s of device time
 * after these sudden onsets (issue 12), so their runs last longer than that.
 */
const SCENARIO: TelemetryFrame[] = frames(beats(T0, [
  { rrMs: 800, count: 20 },
  { rrMs: 3500, count: 1 },            // pause
  { rrMs: 800, count: 15 },
  { rrMs: 1700, count: 8 },            // extreme bradycardia (13.6 s: no brady alarm)
  { rrMs: 800, count: 15 },
  { rrMs: 1300, count: 25 },           // bradycardia, 46 bpm, 32.5 s
  { rrMs: 800, count: 15 },
  { rrMs: 400, count: 6, cls: 'V' },   // VT run, 150 bpm
  { rrMs: 800, count: 15 },
  { rrMs: 450, count: 80 },            // tachycardia, 133 bpm, 36 s
  { rrMs: 800, count: 25 },
]), 175_000);

/** Alerts without the wall-clock fields (detectedAt, updatedAt, resolvedAt, escalatedAt). */
const deviceTimeView = (alerts: Alert[]) => alerts.map(({ detectedAt: _d, updatedAt: _u, resolvedAt: _r, escalatedAt: _e, ...rest }) => rest);

/** Runs the scenario with a delivery plan: batches of frames, and the wall-clock step between batches. */
async function run(batches: TelemetryFrame[][], wallStepMs: number) {
  const bus = new InProcessBus();
  // Escalation is a wall-clock rule by definition; switched off so only event-time behaviour is compared.
  h = await startHarness({ bus, lifecycle: { escalationDelaysMs: [] } });
  for (const b of batches) {
    await h.send(b);
    await h.advance(wallStepMs * b.length);
  }
  const snapshots = processorSnapshots(bus).filter((a) => a.kind !== 'signal_loss');
  const late = h.metrics.counter('pb_processor_late_frames_total', '').get();
  const heartRatePoints = (await h.store.queryHeartRate('p1', T0, T0 + 200_000)).length;
  await h.stop();
  h = undefined;
  return { snapshots, late, heartRatePoints };
}

/** Reorders within `maxDelay` frames: swaps neighbours every 5 frames, and delays every 13th frame by `maxDelay`. */
function jitter(list: TelemetryFrame[], maxDelay: number): TelemetryFrame[] {
  const out = [...list];
  for (let i = 0; i + 1 < out.length; i += 5) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
  for (let i = 7; i + maxDelay < out.length; i += 13) out.splice(i + maxDelay, 0, ...out.splice(i, 1));
  return out;
}

function chunks<T>(list: T[], sizes: number[]): T[][] {
  const out: T[][] = [];
  for (let i = 0, k = 0; i < list.length; k++) {
    const n = sizes[k % sizes.length]!;
    out.push(list.slice(i, i + n));
    i += n;
  }
  return out;
}

describe('event-time semantics', () => {
  it('raises identical alerts at 1× (one frame per second), 60× (one batch) and with frames reordered within 5 s in uneven batches', async () => {
    const realTime = await run(SCENARIO.map((f) => [f]), 1000);
    const fast = await run([SCENARIO], 1000 / 60);
    const reordered = await run(chunks(jitter(SCENARIO, 3), [1, 4, 2, 7, 3]), 1000 / 60);

    const kinds = [...new Set(realTime.snapshots.map((a) => a.kind))].sort();
    expect(kinds).toEqual(['brady', 'extreme_brady', 'pause', 'tachy', 'vt']);
    expect(deviceTimeView(fast.snapshots)).toEqual(deviceTimeView(realTime.snapshots));
    expect(deviceTimeView(reordered.snapshots)).toEqual(deviceTimeView(realTime.snapshots));
    expect([realTime.late, fast.late, reordered.late]).toEqual([0, 0, 0]);
    // The shuffle did change the arrival order (so the test can fail).
    expect(jitter(SCENARIO, 3).map((f) => f.seq)).not.toEqual(SCENARIO.map((f) => f.seq));
  });

  it('counts a frame arriving more than 5 s of device time behind as late: stored, not analysed', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    const normal = frames(beats(T0, [{ rrMs: 800, count: 60 }]), 40_000);
    const lateOne = normal[20]!;
    const inTime = normal.filter((f) => f !== lateOne);
    await h.send(inTime);
    await h.send([lateOne]);
    expect(h.metrics.counter('pb_processor_late_frames_total', '').get()).toBe(1);
    expect((await h.store.queryHeartRate('p1', T0, T0 + 60_000)).map((p) => p.timeMs)).toContain(lateOne.ts + lateOne.durMs);
  });

  it('analyses a stream only once its first 5 s of device time are in, then each next frame at once', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    // A 4.2 s silence at the start of data: asystole, seen once the stream is released.
    const f = frames(beats(T0, [{ rrMs: 800, count: 2 }, { rrMs: 4200, count: 1 }, { rrMs: 800, count: 30 }]), 30_000);
    await bus.publish(STREAMS.telemetry, messages(f.slice(0, 4)));
    await until('4 frames taken', () => h!.metrics.counter('pb_processor_frames_total', '').get() >= 4);
    await h.processor.settled();
    expect(processorSnapshots(bus)).toEqual([]);
    await h.send(f.slice(4, 6));
    expect(processorSnapshots(bus).map((a) => a.kind)).toContain('asystole');
  });
});
