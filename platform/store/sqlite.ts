/**
 * Embedded time-series store on Node's built-in SQLite (node:sqlite). One file in the data
 * folder; WAL so the dashboard can read while the processor writes.
 */
import type { DatabaseSync } from 'node:sqlite';
import { inTransaction, openSqliteFile, storageError } from '../sqlite-file.ts';
import type { EcgStrip } from '../../contracts/ecg-strip.ts';
import type { HeartRatePoint, RrPoint, VitalsStore } from './vitals-store.ts';

export class SqliteVitalsStore implements VitalsStore {
  readonly #db: DatabaseSync;
  readonly #path: string;

  /** @param path a file path, or ':memory:' */
  constructor(path: string) {
    this.#path = path;
    this.#db = openSqliteFile(path, 'the vitals database');
    try {
      this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS heart_rate (
        patient_id TEXT NOT NULL, device_id TEXT NOT NULL, time_ms INTEGER NOT NULL, hr_bpm REAL NOT NULL,
        PRIMARY KEY (patient_id, time_ms, device_id)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS rr_interval (
        patient_id TEXT NOT NULL, device_id TEXT NOT NULL, time_ms INTEGER NOT NULL, rr_ms INTEGER NOT NULL, cls TEXT NOT NULL,
        PRIMARY KEY (patient_id, time_ms, device_id)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS ecg_strip (
        alert_id TEXT NOT NULL PRIMARY KEY, patient_id TEXT NOT NULL, device_id TEXT NOT NULL, start_ms INTEGER NOT NULL, strip TEXT NOT NULL);
    `);
    } catch (err) {
      this.#db.close();
      throw storageError(err, 'the vitals database', path);
    }
  }

  async write(points: { heartRate: HeartRatePoint[]; rr: RrPoint[] }): Promise<void> {
    // INSERT OR REPLACE: a re-delivered frame overwrites its own points (same key), like
    // InfluxDB's last-write-wins for identical series and timestamp.
    const hr = this.#db.prepare('INSERT OR REPLACE INTO heart_rate VALUES (?, ?, ?, ?)');
    const rr = this.#db.prepare('INSERT OR REPLACE INTO rr_interval VALUES (?, ?, ?, ?, ?)');
    // A full disk fails the whole batch (nothing half-written); the processor retries it.
    inTransaction(this.#db, 'BEGIN', () => {
      for (const p of points.heartRate) hr.run(p.patientId, p.deviceId, p.timeMs, p.hrBpm);
      for (const p of points.rr) rr.run(p.patientId, p.deviceId, p.timeMs, p.rrMs, p.cls);
    }, 'the vitals database', this.#path);
  }

  async queryHeartRate(patientId: string, fromMs: number, toMs: number): Promise<HeartRatePoint[]> {
    const rows = this.#db
      .prepare('SELECT patient_id, device_id, time_ms, hr_bpm FROM heart_rate WHERE patient_id = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms')
      .all(patientId, fromMs, toMs) as { patient_id: string; device_id: string; time_ms: number; hr_bpm: number }[];
    return rows.map((r) => ({ patientId: r.patient_id, deviceId: r.device_id, timeMs: r.time_ms, hrBpm: r.hr_bpm }));
  }

  async queryRr(patientId: string, fromMs: number, toMs: number): Promise<RrPoint[]> {
    const rows = this.#db
      .prepare('SELECT patient_id, device_id, time_ms, rr_ms, cls FROM rr_interval WHERE patient_id = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms')
      .all(patientId, fromMs, toMs) as { patient_id: string; device_id: string; time_ms: number; rr_ms: number; cls: string }[];
    return rows.map((r) => ({ patientId: r.patient_id, deviceId: r.device_id, timeMs: r.time_ms, rrMs: r.rr_ms, cls: r.cls }));
  }

  async writeEcgStrips(strips: EcgStrip[]): Promise<void> {
    const put = this.#db.prepare('INSERT OR REPLACE INTO ecg_strip VALUES (?, ?, ?, ?, ?)');
    // The strip as JSON: it is only ever read whole (≈ 20 KB at 250 Hz × 16 s).
    inTransaction(this.#db, 'BEGIN', () => {
      for (const s of strips) put.run(s.alertId, s.patientId, s.deviceId, s.startMs, JSON.stringify(s));
    }, 'the vitals database', this.#path);
  }

  async getEcgStrip(patientId: string, alertId: string): Promise<EcgStrip | undefined> {
    const row = this.#db.prepare('SELECT strip FROM ecg_strip WHERE alert_id = ? AND patient_id = ?').get(alertId, patientId) as { strip: string } | undefined;
    return row ? (JSON.parse(row.strip) as EcgStrip) : undefined;
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
