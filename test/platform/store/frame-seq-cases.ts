/**
 * What both vitals stores must do with a point's frame seq (vitals-store.ts FrameSeq): the same
 * frame written again replaces its own points; another frame at the same device time — a device
 * clock stepped back by a whole number of frames — keeps its own points next to the stored ones.
 * Before, the second frame's points replaced the first's: an hour of stored heart rate was lost to
 * a clock stepped back by exactly an hour. Run on SQLite and on a real InfluxDB.
 */
import { expect } from 'vitest';
import type { VitalsStore } from '../../../platform/store/index.ts';

const T = Date.UTC(2025, 0, 15, 9, 0, 0);

export async function frameSeqCases(store: VitalsStore, patientId: string): Promise<void> {
  const hr = (seq: number | undefined, hrBpm: number) => ({ patientId, deviceId: 'dev-1', timeMs: T, hrBpm, ...(seq !== undefined ? { seq } : {}) });
  const rr = (seq: number, rrMs: number) => ({ patientId, deviceId: 'dev-1', timeMs: T + 400, rrMs, cls: 'N', seq });
  const strip = ({ seq: _seq, ...p }: { seq?: number } & Record<string, unknown>) => p;

  // The same frame (seq 7) resent, with a corrected value: one point.
  await store.write({ heartRate: [hr(7, 70)], rr: [rr(7, 850)] });
  await store.write({ heartRate: [hr(7, 71)], rr: [rr(7, 851)] });
  expect(await store.queryHeartRate(patientId, T, T + 1)).toEqual([strip(hr(7, 71))]);
  // Another frame at the same device time (seq 3607: the clock stepped back 3600 frames): both kept, the older frame first.
  await store.write({ heartRate: [hr(3607, 64)], rr: [rr(3607, 940)] });
  expect(await store.queryHeartRate(patientId, T, T + 1)).toEqual([strip(hr(7, 71)), strip(hr(3607, 64))]);
  expect((await store.queryRr(patientId, T, T + 1000)).map((p) => p.rrMs)).toEqual([851, 940]);
  // Read in whole ms: in [T, T + 1), not before T nor from T + 1.
  expect(await store.queryHeartRate(patientId, T - 1000, T)).toEqual([]);
  expect(await store.queryHeartRate(patientId, T + 1, T + 1000)).toEqual([]);
  // Points without a seq (derived from the ECG) are keyed by time alone, as before.
  await store.write({ heartRate: [hr(undefined, 80)], rr: [] });
  await store.write({ heartRate: [hr(undefined, 81)], rr: [] });
  expect((await store.queryHeartRate(patientId, T, T + 1)).map((p) => p.hrBpm).sort()).toEqual([64, 71, 81]);
}
