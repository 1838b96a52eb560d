/**
 * PULSEBRIDGE_VITALS_RETENTION_DAYS on embedded SQLite with the components in separate processes:
 * only the processor (the writer) deletes what is older than the retention; the dashboard API opens
 * the same file as a reader that says the retention and deletes nothing (before, both pruned the
 * same file every hour). Through the real CLI.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';
import { waitFor } from '../helpers/wait.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/pulsebridge');
const DAY_MS = 24 * 60 * 60_000;

it('the dashboard API in its own process says the retention in force and leaves the pruning to the processor', async () => {
  const dataDir = makeTempDir('pb-retention-api-');
  const file = path.join(dataDir, 'vitals.sqlite');
  const seed = new SqliteVitalsStore(file);
  await seed.write({ heartRate: [{ patientId: 'pat-1', deviceId: 'dev-1', timeMs: Date.now() - 40 * DAY_MS, hrBpm: 72 }], rr: [] });
  await seed.close();

  const child = spawn(BIN, ['dashboard-api'], { env: { ...process.env, PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_BUS: 'memory', PULSEBRIDGE_STORE: 'sqlite',
    PULSEBRIDGE_HTTP_PORT: '0', PULSEBRIDGE_VITALS_RETENTION_DAYS: '30', PULSEBRIDGE_LOG_LEVEL: 'info' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const line = await waitFor('the retention line', () => /"msg":"(vitals retention: [^"]*)"/.exec(stderr)?.[1], 20_000);
    expect(line).toBe('vitals retention: 30 days: points and ECG strips older than that (device time) are deleted by the store\'s writer (the processor); this reader does not delete');
    // A writer prunes right after opening: give the API far longer than that.
    await new Promise((resolve) => setTimeout(resolve, 500));
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  const after = new SqliteVitalsStore(file);
  try {
    expect(await after.queryHeartRate('pat-1', 0, Date.now())).toHaveLength(1);
  } finally {
    await after.close();
  }
});
