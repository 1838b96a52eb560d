/**
 * Retention on a real InfluxDB 1.x (PULSEBRIDGE_VITALS_RETENTION_DAYS, platform/store/influx.ts
 * init): the retention policy the store writes to gets the duration, init is idempotent, another
 * value alters it, unset leaves it, and points land in it and are read back — also from a named
 * retention policy (`retentionPolicy`), which the reads used to ignore. Own databases, dropped
 * afterwards. A 2.x-style refusal is influx-retention.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { InfluxVitalsStore } from '../../../platform/store/index.ts';
import { createLogger } from '../../../platform/log.ts';
import { describeWithService, influxAuth, influxAvailable, influxUrl } from '../../helpers/services.ts';
import { sampleEcgStrip } from './ecg-strip-fixture.ts';

const databases: string[] = [];
const newDatabase = () => {
  const name = `pb_test_ret_${randomUUID().replaceAll('-', '')}`;
  databases.push(name);
  return name;
};

interface QueryResult { results: { error?: string; series?: { columns: string[]; values: unknown[][] }[] }[] }
async function influxql(q: string, db?: string): Promise<QueryResult> {
  const params = new URLSearchParams({ q });
  if (db) params.set('db', db);
  if (influxAuth.username) params.set('u', influxAuth.username);
  if (influxAuth.password) params.set('p', influxAuth.password);
  const res = await fetch(`${influxUrl}/query?${params}`, { method: 'POST', headers: influxAuth.token ? { authorization: `Token ${influxAuth.token}` } : {} });
  return (await res.json()) as QueryResult;
}

async function policies(db: string): Promise<Record<string, { duration: string; shardGroupDuration: string; default: boolean }>> {
  const series = (await influxql('SHOW RETENTION POLICIES', db)).results[0]!.series![0]!;
  const col = (name: string) => series.columns.indexOf(name);
  return Object.fromEntries(series.values.map((v) => [v[col('name')], { duration: v[col('duration')], shardGroupDuration: v[col('shardGroupDuration')], default: v[col('default')] }]));
}

async function count(db: string, from: string): Promise<number> {
  const r = await influxql(`SELECT count(*) FROM ${from}`, db);
  const row = r.results[0]?.series?.[0]?.values?.[0];
  return row ? Number(row[1]) : 0;
}

const logged = () => {
  const lines: string[] = [];
  return { lines, logger: createLogger('info', {}, (l) => lines.push(l)) };
};

// Points must be within the retention: InfluxDB drops a point older than its policy's duration.
const T = Date.now() - 60 * 60_000;
const hr = [0, 1, 2].map((i) => ({ patientId: 'ret-p1', deviceId: 'dev-1', timeMs: T + i * 1_000, hrBpm: 70 + i }));
const rr = [{ patientId: 'ret-p1', deviceId: 'dev-1', timeMs: T + 500, rrMs: 830, cls: 'N' }];

/** Writes `hr`, `rr` and a strip; they are in retention policy `rp` and the store reads them back. */
async function writeAndReadBack(store: InfluxVitalsStore, database: string, rp: string, alertId: string): Promise<void> {
  await store.write({ heartRate: hr, rr });
  await store.writeEcgStrips([sampleEcgStrip({ patientId: 'ret-p1', alertId, startMs: T })]);
  for (const [measurement, n] of [['heart_rate', 3], ['rr_interval', 1], ['ecg_strip', 1]] as const) {
    expect(await count(database, `"${database}"."${rp}"."${measurement}"`), measurement).toBe(n);
  }
  expect(await store.queryHeartRate('ret-p1', T, T + 10_000)).toEqual(hr);
  expect(await store.queryRr('ret-p1', T, T + 10_000)).toEqual(rr);
  expect((await store.getEcgStrip('ret-p1', alertId))?.startMs).toBe(T);
}

await describeWithService('InfluxVitalsStore retention against a real InfluxDB (v1 HTTP API)', influxAvailable, () => {
  afterAll(async () => {
    for (const db of databases) await influxql(`DROP DATABASE "${db}"`);
  });

  it('sets the default retention policy\'s duration at init (idempotent), alters it for another value, leaves it when unset; points land in it', async () => {
    const database = newDatabase();
    const first = logged();
    const store = new InfluxVitalsStore({ url: influxUrl, database, ...influxAuth, retentionDays: 30, logger: first.logger });
    await store.init();
    // CREATE DATABASE made `autogen` (infinite), altered in place: the reads, which follow the default, see every point.
    expect(await policies(database)).toEqual({ autogen: { duration: '720h0m0s', shardGroupDuration: '24h0m0s', default: true } });
    expect(first.lines.join('\n')).toContain('vitals retention in InfluxDB: 30 days');

    await store.init();
    expect(await policies(database)).toEqual({ autogen: { duration: '720h0m0s', shardGroupDuration: '24h0m0s', default: true } });

    await writeAndReadBack(store, database, 'autogen', 'al-ret-1');

    // Another value: altered; the points stay readable.
    const second = logged();
    const longer = new InfluxVitalsStore({ url: influxUrl, database, ...influxAuth, retentionDays: 400, logger: second.logger });
    await longer.init();
    expect(await policies(database)).toEqual({ autogen: { duration: '9600h0m0s', shardGroupDuration: '168h0m0s', default: true } });
    expect(second.lines.join('\n')).toContain('vitals retention in InfluxDB: 400 days');
    expect(await longer.queryHeartRate('ret-p1', T, T + 10_000)).toEqual(hr);

    // Unset: left as InfluxDB has it, and said.
    const third = logged();
    await new InfluxVitalsStore({ url: influxUrl, database, ...influxAuth, logger: third.logger }).init();
    expect((await policies(database)).autogen!.duration).toBe('9600h0m0s');
    expect(third.lines.join('\n')).toContain('vitals retention in InfluxDB: 400 days');
  });

  it('says "forever" when no retention is set anywhere', async () => {
    const database = newDatabase();
    const { lines, logger } = logged();
    await new InfluxVitalsStore({ url: influxUrl, database, ...influxAuth, logger }).init();
    expect((await policies(database)).autogen!.duration).toBe('0s');
    expect(lines.join('\n')).toContain('vitals retention in InfluxDB: forever');
  });

  it('creates a named retention policy with the duration, writes to it and reads from it', async () => {
    const database = newDatabase();
    const store = new InfluxVitalsStore({ url: influxUrl, database, ...influxAuth, retentionPolicy: 'pb_vitals', retentionDays: 2 });
    await store.init();
    await store.init();
    const rps = await policies(database);
    expect(rps.pb_vitals).toEqual({ duration: '48h0m0s', shardGroupDuration: '24h0m0s', default: false });
    expect(rps.autogen!.duration).toBe('0s');

    // The reads name the policy too (they read the default one before, and found nothing).
    await writeAndReadBack(store, database, 'pb_vitals', 'al-ret-2');
    expect(await count(database, `"${database}"."autogen"."heart_rate"`)).toBe(0);

    await new InfluxVitalsStore({ url: influxUrl, database, ...influxAuth, retentionPolicy: 'pb_vitals', retentionDays: 1 }).init();
    expect((await policies(database)).pb_vitals).toEqual({ duration: '24h0m0s', shardGroupDuration: '1h0m0s', default: false });
  });
});
