/**
 * Retention of the embedded vitals store (PULSEBRIDGE_VITALS_RETENTION_DAYS, platform/store/sqlite.ts):
 * heart rate, RR intervals and ECG strips older than the retention (device time) are deleted by a
 * prune — at open and every interval, in batches — and newer ones stay; without a retention nothing
 * is deleted. The InfluxDB side is influx-retention.int.test.ts.
 */
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { SqliteVitalsStore } from '../../../platform/store/index.ts';
import type { HeartRatePoint, RrPoint } from '../../../platform/store/index.ts';
import { createLogger } from '../../../platform/log.ts';
import { makeTempDir } from '../../helpers/gateway-fixture.ts';
import { waitFor } from '../../helpers/wait.ts';
import { sampleEcgStrip } from './ecg-strip-fixture.ts';

const DAY = 24 * 60 * 60_000;
const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);
const RETENTION_DAYS = 30;
const CUTOFF = NOW - RETENTION_DAYS * DAY;

const open: SqliteVitalsStore[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

/** Points of three patients every 6 h from 40 days ago to now: 11 of 41 days older than the retention. */
function points(): { heartRate: HeartRatePoint[]; rr: RrPoint[] } {
  const heartRate: HeartRatePoint[] = [];
  const rr: RrPoint[] = [];
  for (const patientId of ['p-a', 'p-b', 'p-c']) {
    for (let t = NOW - 40 * DAY; t <= NOW; t += DAY / 4) {
      heartRate.push({ patientId, deviceId: 'dev-1', timeMs: t, hrBpm: 70, seq: t / 1000 });
      rr.push({ patientId, deviceId: 'dev-1', timeMs: t, rrMs: 857, cls: 'N', seq: t / 1000 });
    }
    // Exactly at the cutoff: kept (older than the retention means before it).
    heartRate.push({ patientId, deviceId: 'dev-2', timeMs: CUTOFF, hrBpm: 61 });
    heartRate.push({ patientId, deviceId: 'dev-2', timeMs: CUTOFF - 1, hrBpm: 62 });
  }
  return { heartRate, rr };
}

const strips = [
  sampleEcgStrip({ alertId: 'al-old', startMs: NOW - 31 * DAY }),
  sampleEcgStrip({ alertId: 'al-old-2', patientId: 'p-b', startMs: CUTOFF - 1 }),
  sampleEcgStrip({ alertId: 'al-new', startMs: NOW - 29 * DAY }),
];

async function filled(store: SqliteVitalsStore): Promise<SqliteVitalsStore> {
  open.push(store);
  await store.write(points());
  await store.writeEcgStrips(strips);
  return store;
}

it('deletes heart rate, RR intervals and ECG strips older than the retention and keeps the newer ones, in batches', async () => {
  // Batches of 7 rows: every patient's old points take several.
  const store = await filled(new SqliteVitalsStore(':memory:', { retentionDays: RETENTION_DAYS, now: () => NOW, pruneIntervalMs: 3_600_000, pruneBatchRows: 7 }));
  const all = points();
  const expectedHr = all.heartRate.filter((p) => p.timeMs < CUTOFF).length;
  const expectedRr = all.rr.filter((p) => p.timeMs < CUTOFF).length;
  expect(expectedHr).toBe(3 * (10 * 4 + 1));

  expect(await store.prune(NOW)).toEqual({ heartRate: expectedHr, rr: expectedRr, ecgStrips: 2 });

  for (const patientId of ['p-a', 'p-b', 'p-c']) {
    const hr = await store.queryHeartRate(patientId, 0, NOW + 1);
    expect(hr.length).toBe(all.heartRate.filter((p) => p.patientId === patientId && p.timeMs >= CUTOFF).length);
    expect(Math.min(...hr.map((p) => p.timeMs))).toBe(CUTOFF);
    expect(hr.some((p) => p.timeMs === NOW)).toBe(true);
    const rr = await store.queryRr(patientId, 0, NOW + 1);
    expect(rr.length).toBe(all.rr.filter((p) => p.patientId === patientId && p.timeMs >= CUTOFF).length);
    expect(rr.every((p) => p.timeMs >= CUTOFF)).toBe(true);
  }
  expect(await store.getEcgStrip('ecg-p1', 'al-old')).toBeUndefined();
  expect(await store.getEcgStrip('p-b', 'al-old-2')).toBeUndefined();
  expect(await store.getEcgStrip('ecg-p1', 'al-new')).toEqual(strips[2]);

  // Nothing left to delete.
  expect(await store.prune(NOW)).toEqual({ heartRate: 0, rr: 0, ecgStrips: 0 });
});

it('prunes a file at open (device time), saying at open which retention is in force', async () => {
  const file = path.join(makeTempDir('pb-vitals-retention-'), 'vitals.sqlite');
  await (await filled(new SqliteVitalsStore(file))).close();
  open.length = 0;

  const lines: string[] = [];
  const store = new SqliteVitalsStore(file, { retentionDays: RETENTION_DAYS, now: () => NOW, logger: createLogger('info', {}, (l) => lines.push(l)) });
  open.push(store);
  expect(lines.join('\n')).toContain('vitals retention: 30 days');
  await waitFor('the prune at open', async () => ((await store.getEcgStrip('ecg-p1', 'al-old')) === undefined ? true : undefined), 5_000);
  await waitFor('the prune at open to finish', () => (lines.some((l) => l.includes('deleted vitals older than 30 days')) ? true : undefined), 5_000);
  expect((await store.queryHeartRate('p-a', 0, NOW + 1)).every((p) => p.timeMs >= CUTOFF)).toBe(true);
  expect((await store.queryRr('p-c', 0, CUTOFF)).length).toBe(0);
  expect(await store.getEcgStrip('ecg-p1', 'al-new')).toEqual(strips[2]);
});

it('prunes again every interval while open', async () => {
  let now = NOW - 20 * DAY;
  const store = await filled(new SqliteVitalsStore(':memory:', { retentionDays: RETENTION_DAYS, now: () => now, pruneIntervalMs: 50 }));
  // 20 days ago nothing but the points before (now - 50 days) were due; then the clock moves on.
  await waitFor('the first prunes', async () => ((await store.queryHeartRate('p-a', 0, NOW - 50 * DAY)).length === 0 ? true : undefined), 5_000);
  expect((await store.queryHeartRate('p-a', 0, CUTOFF)).length).toBeGreaterThan(0);
  now = NOW;
  await waitFor('a later prune', async () => ((await store.queryHeartRate('p-a', 0, CUTOFF)).length === 0 ? true : undefined), 5_000);
  expect((await store.queryHeartRate('p-a', CUTOFF, NOW + 1)).length).toBeGreaterThan(0);
});

it('keeps everything without a retention (unset: forever), and says so', async () => {
  const lines: string[] = [];
  const store = await filled(new SqliteVitalsStore(':memory:', { now: () => NOW, logger: createLogger('info', {}, (l) => lines.push(l)) }));
  expect(lines.join('\n')).toContain('vitals retention: forever');
  expect(await store.prune(NOW + 1000 * DAY)).toEqual({ heartRate: 0, rr: 0, ecgStrips: 0 });
  expect((await store.queryHeartRate('p-a', 0, NOW + 1)).length).toBe(points().heartRate.filter((p) => p.patientId === 'p-a').length);
  expect(await store.getEcgStrip('ecg-p1', 'al-old')).toEqual(strips[0]);
});

it('refuses a retention that is not a whole number of days >= 1', () => {
  for (const retentionDays of [0, -1, 1.5, Number.NaN]) {
    expect(() => new SqliteVitalsStore(':memory:', { retentionDays })).toThrow(/retentionDays must be a whole number of days >= 1/);
  }
});

it('stops a running prune when the store is closed', async () => {
  const store = new SqliteVitalsStore(':memory:', { retentionDays: RETENTION_DAYS, now: () => NOW, pruneIntervalMs: 3_600_000, pruneBatchRows: 1, pruneYieldMs: 1 });
  await store.write(points());
  const pruning = store.prune(NOW);
  await store.close();
  const deleted = await pruning;
  expect(deleted.heartRate).toBeLessThan(points().heartRate.filter((p) => p.timeMs < CUTOFF).length);
});
