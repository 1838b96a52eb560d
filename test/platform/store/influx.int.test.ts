import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { InfluxVitalsStore } from '../../../platform/store/index.ts';
import type { HeartRatePoint, RrPoint } from '../../../platform/store/index.ts';
import { describeWithService, influxAuth, influxAvailable, influxUrl } from '../../helpers/services.ts';
import { frameSeqCases } from './frame-seq-cases.ts';

/** One database per test run, dropped afterwards. */
const database = `pb_test_${randomUUID().replaceAll('-', '')}`;
const T0 = Date.UTC(2025, 0, 15, 8, 0, 0);

async function influxql(q: string): Promise<unknown> {
  const params = new URLSearchParams({ q });
  if (influxAuth.username) params.set('u', influxAuth.username);
  if (influxAuth.password) params.set('p', influxAuth.password);
  const res = await fetch(`${influxUrl}/query?${params}`, {
    method: 'POST',
    headers: influxAuth.token ? { authorization: `Token ${influxAuth.token}` } : {},
  });
  return res.json();
}

await describeWithService('InfluxVitalsStore against a real InfluxDB (v1 HTTP API)', influxAvailable, () => {
  const store = new InfluxVitalsStore({ url: influxUrl, database, ...influxAuth });
  beforeAll(async () => {
    await store.init();
  });
  afterAll(async () => {
    await store.close();
    await influxql(`DROP DATABASE "${database}"`);
  });

  it('creates its database on init, and init is idempotent', async () => {
    await store.init();
    const listed = (await influxql('SHOW DATABASES')) as { results: { series: { values: string[][] }[] }[] };
    expect(listed.results[0]!.series[0]!.values.map((v) => v[0])).toContain(database);
  });

  it('ping answers for its database and fails, naming it, for a database InfluxDB does not have (the API\'s /healthz probe)', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
    const missing = new InfluxVitalsStore({ url: influxUrl, database: `${database}_missing`, ...influxAuth });
    await expect(missing.ping()).rejects.toThrow(new RegExp(`does not answer a read of database ${database}_missing: .*database not found`));
  });

  it('returns the written heart-rate points of one patient with from <= time < to, oldest first, with exact values', async () => {
    const hr: HeartRatePoint[] = [
      { patientId: 'hr-p1', deviceId: 'dev-1', timeMs: T0 - 1, hrBpm: 60 },
      { patientId: 'hr-p1', deviceId: 'dev-1', timeMs: T0, hrBpm: 72.5 },
      { patientId: 'hr-p1', deviceId: 'dev-1', timeMs: T0 + 2_000, hrBpm: 71.25 },
      // Another device of the same patient, same time: a second series, not an overwrite.
      { patientId: 'hr-p1', deviceId: 'dev.2', timeMs: T0 + 2_000, hrBpm: 70 },
      { patientId: 'hr-p1', deviceId: 'dev-1', timeMs: T0 + 4_000, hrBpm: 140 },
      { patientId: 'hr-p1', deviceId: 'dev-1', timeMs: T0 + 10_000, hrBpm: 99 },
      { patientId: 'hr-p2', deviceId: 'dev-9', timeMs: T0 + 1_000, hrBpm: 55 },
    ];
    // Written out of order on purpose: the store orders by time.
    await store.write({ heartRate: [...hr].reverse(), rr: [] });

    const got = await store.queryHeartRate('hr-p1', T0, T0 + 10_000);
    expect(got.sort((a, b) => a.timeMs - b.timeMs || a.deviceId.localeCompare(b.deviceId))).toEqual([
      { patientId: 'hr-p1', deviceId: 'dev-1', timeMs: T0, hrBpm: 72.5 },
      { patientId: 'hr-p1', deviceId: 'dev-1', timeMs: T0 + 2_000, hrBpm: 71.25 },
      { patientId: 'hr-p1', deviceId: 'dev.2', timeMs: T0 + 2_000, hrBpm: 70 },
      { patientId: 'hr-p1', deviceId: 'dev-1', timeMs: T0 + 4_000, hrBpm: 140 },
    ]);
    const times = (await store.queryHeartRate('hr-p1', T0 - 10, T0 + 20_000)).map((p) => p.timeMs);
    expect(times).toEqual([T0 - 1, T0, T0 + 2_000, T0 + 2_000, T0 + 4_000, T0 + 10_000]);
    expect(await store.queryHeartRate('hr-p2', T0, T0 + 10_000)).toEqual([{ patientId: 'hr-p2', deviceId: 'dev-9', timeMs: T0 + 1_000, hrBpm: 55 }]);
    expect(await store.queryHeartRate('nobody', T0, T0 + 10_000)).toEqual([]);
  });

  it('returns the written RR intervals with their beat class as whole milliseconds', async () => {
    const rr: RrPoint[] = [
      { patientId: 'rr-p1', deviceId: 'dev-1', timeMs: T0 + 812, rrMs: 812, cls: 'N' },
      { patientId: 'rr-p1', deviceId: 'dev-1', timeMs: T0 + 1_340, rrMs: 528, cls: 'V' },
      { patientId: 'rr-p1', deviceId: 'dev-1', timeMs: T0 + 2_500, rrMs: 1_160, cls: 'N' },
      { patientId: 'rr-p1', deviceId: 'dev-1', timeMs: T0 + 3_000, rrMs: 500, cls: 'S' },
    ];
    await store.write({ heartRate: [], rr });
    expect(await store.queryRr('rr-p1', T0 + 812, T0 + 3_000)).toEqual(rr.slice(0, 3));
  });

  it('replaces a point written again for the same patient, device and time', async () => {
    const point = { patientId: 'dup-p1', deviceId: 'dev-1', timeMs: T0, hrBpm: 80 };
    await store.write({ heartRate: [point], rr: [] });
    await store.write({ heartRate: [{ ...point, hrBpm: 81 }], rr: [] });
    expect(await store.queryHeartRate('dup-p1', T0, T0 + 1)).toEqual([{ ...point, hrBpm: 81 }]);
  });

  it('keeps the points of another frame at the same device time (a clock stepped back by whole frames); the same frame resent replaces its own', async () => {
    await frameSeqCases(store, 'seq-p1');
  });

  it('splits a large write into several requests and stores every point', async () => {
    const small = new InfluxVitalsStore({ url: influxUrl, database, ...influxAuth, maxPointsPerWrite: 7 });
    const hr = Array.from({ length: 50 }, (_, i) => ({ patientId: 'bulk-p1', deviceId: 'dev-1', timeMs: T0 + i * 1_000, hrBpm: 60 + i }));
    await small.write({ heartRate: hr, rr: [] });
    expect(await small.queryHeartRate('bulk-p1', T0, T0 + 50_000)).toEqual(hr);
  });

  it('refuses a patient id outside the id alphabet instead of splicing it into InfluxQL', async () => {
    await expect(store.queryHeartRate("x' OR patient =~ /.*/ --", T0, T0 + 1)).rejects.toMatchObject({ code: 'PB_STORE_QUERY_FAILED' });
  });

  it('rejects a write to a database that does not exist with PB_STORE_WRITE_FAILED', async () => {
    const missing = new InfluxVitalsStore({ url: influxUrl, database: `${database}_missing`, ...influxAuth });
    const error = await missing.write({ heartRate: [{ patientId: 'p', deviceId: 'd', timeMs: T0, hrBpm: 60 }], rr: [] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'PulsebridgeError', code: 'PB_STORE_WRITE_FAILED' });
    expect((error as Error).cause).toBeDefined();
  });

  it('rejects a query the server reports as failed with PB_STORE_QUERY_FAILED', async () => {
    const missing = new InfluxVitalsStore({ url: influxUrl, database: `${database}_missing`, ...influxAuth });
    await expect(missing.queryHeartRate('p1', T0, T0 + 1)).rejects.toMatchObject({ code: 'PB_STORE_QUERY_FAILED' });
  });
});

// Needs no server: nothing listens on port 9 (discard) on loopback here.
it('rejects writes and queries to an unreachable InfluxDB with the store error codes', async () => {
  const store = new InfluxVitalsStore({ url: 'http://127.0.0.1:9', database: 'pulsebridge', timeoutMs: 2_000 });
  await expect(store.write({ heartRate: [{ patientId: 'p', deviceId: 'd', timeMs: T0, hrBpm: 60 }], rr: [] })).rejects.toMatchObject({
    code: 'PB_STORE_WRITE_FAILED',
  });
  await expect(store.queryRr('p', T0, T0 + 1)).rejects.toMatchObject({ code: 'PB_STORE_QUERY_FAILED' });
});
