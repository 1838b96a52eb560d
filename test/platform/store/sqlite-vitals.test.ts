/**
 * The embedded vitals store (platform/store/sqlite.ts): points keyed by series, device time and
 * frame seq (frame-seq-cases.ts), and a file written before the seq was part of the key moved to
 * the new key with its points.
 */
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { expect, it } from 'vitest';
import { SqliteVitalsStore } from '../../../platform/store/index.ts';
import { makeTempDir } from '../../helpers/gateway-fixture.ts';
import { frameSeqCases } from './frame-seq-cases.ts';

it('keeps the points of another frame at the same device time (a clock stepped back by whole frames); the same frame resent replaces its own', async () => {
  const store = new SqliteVitalsStore(':memory:');
  await frameSeqCases(store, 'seq-p1');
  await store.close();
});

it('moves a file of the earlier schema (no seq in the key): its points are kept, and new frames at their times are kept next to them', async () => {
  const file = path.join(makeTempDir('pb-vitals-old-'), 'vitals.sqlite');
  const old = new DatabaseSync(file);
  old.exec(`
    CREATE TABLE heart_rate (patient_id TEXT NOT NULL, device_id TEXT NOT NULL, time_ms INTEGER NOT NULL, hr_bpm REAL NOT NULL,
      PRIMARY KEY (patient_id, time_ms, device_id)) WITHOUT ROWID;
    CREATE TABLE rr_interval (patient_id TEXT NOT NULL, device_id TEXT NOT NULL, time_ms INTEGER NOT NULL, rr_ms INTEGER NOT NULL, cls TEXT NOT NULL,
      PRIMARY KEY (patient_id, time_ms, device_id)) WITHOUT ROWID;
    INSERT INTO heart_rate VALUES ('p1', 'dev-1', 1000, 72), ('p1', 'dev-1', 2000, 73);
    INSERT INTO rr_interval VALUES ('p1', 'dev-1', 1500, 830, 'V');`);
  old.close();

  let store = new SqliteVitalsStore(file);
  expect(await store.queryHeartRate('p1', 0, 3000)).toEqual([
    { patientId: 'p1', deviceId: 'dev-1', timeMs: 1000, hrBpm: 72 },
    { patientId: 'p1', deviceId: 'dev-1', timeMs: 2000, hrBpm: 73 },
  ]);
  expect(await store.queryRr('p1', 0, 3000)).toEqual([{ patientId: 'p1', deviceId: 'dev-1', timeMs: 1500, rrMs: 830, cls: 'V' }]);
  await store.write({ heartRate: [{ patientId: 'p1', deviceId: 'dev-1', timeMs: 1000, hrBpm: 60, seq: 41 }], rr: [] });
  await store.close();
  // Opened again: already moved, nothing changes.
  store = new SqliteVitalsStore(file);
  expect((await store.queryHeartRate('p1', 0, 3000)).map((p) => [p.timeMs, p.hrBpm])).toEqual([[1000, 72], [1000, 60], [2000, 73]]);
  await store.close();
});
