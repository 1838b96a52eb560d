/**
 * Embedded time-series store on Node's built-in SQLite (node:sqlite). One file in the data
 * folder; WAL so the dashboard can read while the processor writes.
 */
import type { DatabaseSync } from 'node:sqlite';
import { inTransaction, openSqliteFile, storageError } from '../sqlite-file.ts';
import type { EcgStrip } from '../../contracts/ecg-strip.ts';
import type { FrameSeq, HeartRatePoint, RrPoint, VitalsStore } from './vitals-store.ts';

/** The point tables: their value columns, and the key (a point per series, device time and frame). */
const POINT_TABLES = [
  { name: 'heart_rate', columns: 'hr_bpm REAL NOT NULL', values: 'hr_bpm' },
  { name: 'rr_interval', columns: 'rr_ms INTEGER NOT NULL, cls TEXT NOT NULL', values: 'rr_ms, cls' },
] as const;

/** The key column of a point without a frame seq (derived points, and points stored before it was kept). */
const NO_SEQ = -1;
const seqKey = (seq: FrameSeq | undefined): number => seq ?? NO_SEQ;

/**
 * Creates a point table, or moves one of a file written before the frame's seq was part of the key
 * (their points keep NO_SEQ): SQLite cannot change a primary key in place, so the table is copied.
 */
function createPointTable(db: DatabaseSync, t: (typeof POINT_TABLES)[number], path: string): void {
  const columns = () => db.prepare(`PRAGMA table_info(${t.name})`).all() as { name: string }[];
  const keyedBySeq = () => columns().some((c) => c.name === 'seq');
  const create = (name: string) => `CREATE TABLE IF NOT EXISTS ${name} (
    patient_id TEXT NOT NULL, device_id TEXT NOT NULL, time_ms INTEGER NOT NULL, ${t.columns}, seq INTEGER NOT NULL,
    PRIMARY KEY (patient_id, time_ms, device_id, seq)) WITHOUT ROWID`;
  if (columns().length === 0) {
    db.exec(create(t.name));
    return;
  }
  if (keyedBySeq()) return;
  // Checked again under the write lock (IMMEDIATE): two processes opening an old file at once do not both move it.
  inTransaction(db, 'BEGIN IMMEDIATE', () => {
    if (keyedBySeq()) return;
    db.exec(`${create(`${t.name}_keyed`)};
      INSERT INTO ${t.name}_keyed SELECT patient_id, device_id, time_ms, ${t.values}, ${NO_SEQ} FROM ${t.name};
      DROP TABLE ${t.name};
      ALTER TABLE ${t.name}_keyed RENAME TO ${t.name};`);
  }, 'the vitals database', path);
}

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
      CREATE TABLE IF NOT EXISTS ecg_strip (
        alert_id TEXT NOT NULL PRIMARY KEY, patient_id TEXT NOT NULL, device_id TEXT NOT NULL, start_ms INTEGER NOT NULL, strip TEXT NOT NULL);
    `);
      for (const t of POINT_TABLES) createPointTable(this.#db, t, path);
    } catch (err) {
      this.#db.close();
      throw storageError(err, 'the vitals database', path);
    }
  }

  async write(points: { heartRate: HeartRatePoint[]; rr: RrPoint[] }): Promise<void> {
    // INSERT OR REPLACE: a re-delivered frame overwrites its own points (same key, its seq
    // included: vitals-store.ts FrameSeq), like InfluxDB's last-write-wins for identical series
    // and timestamp.
    const hr = this.#db.prepare('INSERT OR REPLACE INTO heart_rate VALUES (?, ?, ?, ?, ?)');
    const rr = this.#db.prepare('INSERT OR REPLACE INTO rr_interval VALUES (?, ?, ?, ?, ?, ?)');
    // A full disk fails the whole batch (nothing half-written); the processor retries it.
    inTransaction(this.#db, 'BEGIN', () => {
      for (const p of points.heartRate) hr.run(p.patientId, p.deviceId, p.timeMs, p.hrBpm, seqKey(p.seq));
      for (const p of points.rr) rr.run(p.patientId, p.deviceId, p.timeMs, p.rrMs, p.cls, seqKey(p.seq));
    }, 'the vitals database', this.#path);
  }

  async queryHeartRate(patientId: string, fromMs: number, toMs: number): Promise<HeartRatePoint[]> {
    const rows = this.#db
      .prepare('SELECT patient_id, device_id, time_ms, hr_bpm FROM heart_rate WHERE patient_id = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms, seq')
      .all(patientId, fromMs, toMs) as { patient_id: string; device_id: string; time_ms: number; hr_bpm: number }[];
    return rows.map((r) => ({ patientId: r.patient_id, deviceId: r.device_id, timeMs: r.time_ms, hrBpm: r.hr_bpm }));
  }

  async queryRr(patientId: string, fromMs: number, toMs: number): Promise<RrPoint[]> {
    const rows = this.#db
      .prepare('SELECT patient_id, device_id, time_ms, rr_ms, cls FROM rr_interval WHERE patient_id = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms, seq')
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
