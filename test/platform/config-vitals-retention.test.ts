/**
 * PULSEBRIDGE_VITALS_RETENTION_DAYS: what loadConfig accepts and refuses, and that the vitals store
 * openVitalsStore opens keeps it, pruning only in the writer's process (the stores' retention itself:
 * test/platform/store/*retention*).
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { openVitalsStore } from '../../platform/adapters.ts';
import { createLogger } from '../../platform/log.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';
import { waitFor } from '../helpers/wait.ts';

const DAY_MS = 24 * 60 * 60_000;

it('is unset (forever) by default and when empty, and a whole number of days otherwise, for either store', () => {
  expect(loadConfig({}).store).not.toHaveProperty('retentionDays');
  expect(loadConfig({ PULSEBRIDGE_VITALS_RETENTION_DAYS: '' }).store).not.toHaveProperty('retentionDays');
  expect(loadConfig({ PULSEBRIDGE_VITALS_RETENTION_DAYS: '400' }).store).toMatchObject({ kind: 'sqlite', retentionDays: 400 });
  expect(loadConfig({ PULSEBRIDGE_STORE: 'influxdb', PULSEBRIDGE_VITALS_RETENTION_DAYS: '30' }).store).toMatchObject({ kind: 'influxdb', database: 'pulsebridge', retentionDays: 30 });
});

it('refuses anything but a whole number of days from 1 to 36500', () => {
  for (const value of ['0', '-1', '1.5', '30d', 'forever', '36501']) {
    expect(() => loadConfig({ PULSEBRIDGE_VITALS_RETENTION_DAYS: value }), value).toThrow(/PULSEBRIDGE_VITALS_RETENTION_DAYS: must be/);
  }
});

it('reaches the embedded store openVitalsStore opens, which says at open which retention is in force', async () => {
  const dir = makeTempDir('pb-retention-config-');
  const lines: string[] = [];
  const config = loadConfig({ PULSEBRIDGE_DATA_DIR: dir, PULSEBRIDGE_VITALS_RETENTION_DAYS: '90' });
  expect(config.store).toMatchObject({ kind: 'sqlite', path: path.join(dir, 'vitals.sqlite') });
  const store = await openVitalsStore(config, createLogger('info', {}, (l) => lines.push(l)));
  await store.close();
  expect(lines.join('\n')).toContain('vitals retention: 90 days');
});

it('the dashboard API opens the embedded store as a reader: it says the retention but does not delete; the processor (the writer) does', async () => {
  const dir = makeTempDir('pb-retention-reader-');
  const config = loadConfig({ PULSEBRIDGE_DATA_DIR: dir, PULSEBRIDGE_VITALS_RETENTION_DAYS: '30' });
  const old = Date.now() - 40 * DAY_MS;
  const seed = new SqliteVitalsStore(config.store.kind === 'sqlite' ? config.store.path : '');
  await seed.write({ heartRate: [{ patientId: 'pat-1', deviceId: 'dev-1', timeMs: old, hrBpm: 72 }], rr: [] });
  await seed.close();
  const readerLines: string[] = [];
  const reader = await openVitalsStore(config, createLogger('info', {}, (l) => readerLines.push(l)), { role: 'reader' });
  try {
    // A writer prunes right after opening (a timer of 0 ms): give the reader far longer than that.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await reader.queryHeartRate('pat-1', 0, Date.now())).toHaveLength(1);
    expect(readerLines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      'vitals retention: 30 days: points and ECG strips older than that (device time) are deleted by the store\'s writer (the processor); this reader does not delete',
    ]);
    const writer = await openVitalsStore(config, createLogger('error', {}, () => {}));
    try {
      await waitFor('the writer\'s prune at open', async () => ((await reader.queryHeartRate('pat-1', 0, Date.now())).length === 0 ? true : undefined), 5_000);
    } finally {
      await writer.close();
    }
  } finally {
    await reader.close();
  }
});
