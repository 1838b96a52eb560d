import { describe, expect, it } from 'vitest';
import type { AlertEnvelope } from '../../contracts/alert.ts';
import type { TelemetryFrame, TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { createProcessor } from '../../processor/processor.ts';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');

const record = (frame: Partial<TelemetryFrame> & { seq: number; ts: number }): TelemetryRecord => ({
  schema: 'pb.telemetry.v1', deviceId: 'd1', patientId: 'p1', format: 'json-v1', receivedAt: T0,
  frame: { durMs: 1000, hr: 75, battery: 90, leadOff: false, beats: [{ off: 100, rr: 800, cls: 'N' }, { off: 900, rr: 800, cls: 'N' }], ...frame },
});

async function setup() {
  const bus = new InProcessBus();
  const store = new SqliteVitalsStore(':memory:');
  const metrics = new MetricsRegistry();
  const processor = createProcessor({ bus, store, logger: silentLogger, metrics, now: () => T0 + 60_000 });
  await processor.start();
  const publish = (records: TelemetryRecord[]) =>
    bus.publish(STREAMS.telemetry, records.map((r) => ({ key: r.patientId, value: Buffer.from(JSON.stringify(r)) })));
  const settle = async () => { for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10)); };
  return { bus, store, metrics, processor, publish, settle };
}

describe('processor', () => {
  it('writes one heart-rate point per frame at the frame end and one RR point per beat', async () => {
    const { store, publish, settle, processor } = await setup();
    await publish([record({ seq: 0, ts: T0 }), record({ seq: 1, ts: T0 + 1000, beats: [{ off: 500, rr: 1000, cls: 'V' }] })]);
    await settle();
    expect(await store.queryHeartRate('p1', T0, T0 + 10_000)).toEqual([
      { patientId: 'p1', deviceId: 'd1', timeMs: T0 + 1000, hrBpm: 75 },
      { patientId: 'p1', deviceId: 'd1', timeMs: T0 + 2000, hrBpm: 60 },
    ]);
    expect((await store.queryRr('p1', T0, T0 + 10_000)).map((p) => [p.timeMs - T0, p.rrMs, p.cls])).toEqual([[100, 800, 'N'], [900, 800, 'N'], [1500, 1000, 'V']]);
    await processor.stop();
  });

  it('drops a resent frame (same device, seq and ts) but keeps frames after a reboot (seq back to 0, later ts)', async () => {
    const { store, metrics, publish, settle, processor } = await setup();
    await publish([record({ seq: 0, ts: T0 }), record({ seq: 1, ts: T0 + 1000 }), record({ seq: 1, ts: T0 + 1000 })]);
    await publish([record({ seq: 0, ts: T0 + 5000 }), record({ seq: 1, ts: T0 + 6000 })]);
    await settle();
    expect((await store.queryHeartRate('p1', T0, T0 + 10_000)).map((p) => p.timeMs - T0)).toEqual([1000, 2000, 6000, 7000]);
    expect(metrics.counter('pb_processor_duplicate_frames_total', '').get()).toBe(1);
    await processor.stop();
  });

  it('does not store heart rate for lead-off frames', async () => {
    const { store, publish, settle, processor } = await setup();
    await publish([record({ seq: 0, ts: T0, leadOff: true })]);
    await settle();
    expect(await store.queryHeartRate('p1', T0, T0 + 10_000)).toEqual([]);
    await processor.stop();
  });

  it('publishes an asystole snapshot at onset and one with the end once 10 s without it have passed, with the same id', async () => {
    const { bus, publish, settle, processor } = await setup();
    const frames: TelemetryRecord[] = [];
    // 3 s of normal rhythm, then 6 s without beats, then normal again until 25 s.
    for (let s = 0; s < 25; s++) {
      const silent = s >= 3 && s < 9;
      frames.push(record({ seq: s, ts: T0 + s * 1000, beats: silent ? [] : [{ off: 0, rr: s === 9 ? 6000 : 1000, cls: 'N' }] }));
    }
    await publish(frames);
    await settle();
    const alerts = bus.read(STREAMS.alerts).map((m) => (JSON.parse(m.value.toString()) as AlertEnvelope).alert).filter((a) => a.kind === 'asystole');
    expect(alerts.map((a) => [a.kind, a.state, a.onset, a.end, a.evidence.durationMs, a.revision])).toEqual([
      ['asystole', 'active', new Date(T0 + 2000).toISOString(), undefined, undefined, 1],
      // High priority: latched (still active) with its end.
      ['asystole', 'active', new Date(T0 + 2000).toISOString(), new Date(T0 + 9000).toISOString(), 7000, 2],
    ]);
    expect(alerts[0]!.id).toBe(alerts[1]!.id);
    expect(bus.read(STREAMS.alerts)[0]!.key).toBe('p1');
    await processor.stop();
  });

  it('routes a record that is not valid JSON to the dead-letter stream instead of stopping', async () => {
    const { bus, store, settle, processor } = await setup();
    await bus.publish(STREAMS.telemetry, [{ key: 'p1', value: Buffer.from('garbage') }, { key: 'p1', value: Buffer.from(JSON.stringify(record({ seq: 0, ts: T0 }))) }]);
    await settle();
    expect(bus.read(STREAMS.deadLetter).map((m) => JSON.parse(m.value.toString()).reason)).toEqual(['invalid_record']);
    expect(await store.queryHeartRate('p1', T0, T0 + 10_000)).toHaveLength(1);
    await processor.stop();
  });
});
