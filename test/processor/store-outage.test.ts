/**
 * The vitals store never blocks detection (issue 13, found by the fault suite's InfluxDB-down
 * case): while every store write fails, frames are still analysed and alerts published; once the
 * store answers again every point is written, none twice.
 */
import { describe, expect, it } from 'vitest';
import type { EcgStrip } from '../../contracts/ecg-strip.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { SqliteVitalsStore, type HeartRatePoint, type RrPoint, type VitalsStore } from '../../platform/store/index.ts';
import { ManualClock } from '../../processor/clock.ts';
import { createProcessor } from '../../processor/processor.ts';
import { beats, frames, messages, processorSnapshots, T0, until } from './helpers.ts';

/** A store that fails every write while `down` (like InfluxDB stopped), then behaves. */
class OutageStore implements VitalsStore {
  readonly inner = new SqliteVitalsStore(':memory:');
  down = true;
  failedWrites = 0;
  writtenHeartRate = 0;
  async write(points: { heartRate: HeartRatePoint[]; rr: RrPoint[] }): Promise<void> {
    if (this.down) { this.failedWrites++; throw new Error('connect ECONNREFUSED 127.0.0.1:8086'); }
    this.writtenHeartRate += points.heartRate.length;
    await this.inner.write(points);
  }
  async writeEcgStrips(strips: EcgStrip[]): Promise<void> {
    if (this.down) { this.failedWrites++; throw new Error('connect ECONNREFUSED 127.0.0.1:8086'); }
    await this.inner.writeEcgStrips(strips);
  }
  getEcgStrip(patientId: string, alertId: string) { return this.inner.getEcgStrip(patientId, alertId); }
  queryHeartRate(p: string, from: number, to: number) { return this.inner.queryHeartRate(p, from, to); }
  queryRr(p: string, from: number, to: number) { return this.inner.queryRr(p, from, to); }
  close() { return this.inner.close(); }
}

describe('store outage', () => {
  it('publishes alerts while every store write fails, and stores every point once the store is back', async () => {
    const bus = new InProcessBus();
    const store = new OutageStore();
    const metrics = new MetricsRegistry();
    const processor = createProcessor({ bus, store, logger: silentLogger, metrics, clock: new ManualClock(T0 + 3_600_000) });
    await processor.start();
    // 20 s normal rhythm, then 20 s at 30 bpm: extreme bradycardia (< 40 bpm).
    const list = frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 2000, count: 10 }]), 40_000);
    // The same frames twice (a device resent them): still one point each.
    await bus.publish(STREAMS.telemetry, messages(list));
    await bus.publish(STREAMS.telemetry, messages(list.slice(-5)));

    await until('an extreme_brady alert while the store is down', () => processorSnapshots(bus).some((a) => a.kind === 'extreme_brady'));
    expect(store.down).toBe(true);
    expect(store.failedWrites).toBeGreaterThan(0);
    expect(metrics.counter('pb_processor_frames_total', '').get()).toBe(list.length);

    store.down = false;
    const expected = list.filter((f) => f.beats.some((b) => b.rr > 0)).map((f) => f.ts + f.durMs);
    await until('every point in the store', async () => (await store.queryHeartRate('p1', T0, T0 + 60_000)).length === expected.length);
    await processor.settled();
    expect((await store.queryHeartRate('p1', T0, T0 + 60_000)).map((p) => p.timeMs)).toEqual(expected);
    await processor.stop();
    await store.close();
  });
});
