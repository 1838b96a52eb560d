/**
 * PULSEBRIDGE_VITALS_RETENTION_DAYS: what loadConfig accepts and refuses, and that the vitals store
 * openVitalsStore opens keeps it (the stores' retention itself: test/platform/store/*retention*).
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { openVitalsStore } from '../../platform/adapters.ts';
import { createLogger } from '../../platform/log.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

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
