/**
 * Embedded time-series store on Node's built-in SQLite (node:sqlite). One file in the data
 * folder; WAL so the dashboard can read while the processor writes.
 *
 * Retention (PULSEBRIDGE_VITALS_RETENTION_DAYS): with `retentionDays`, points and ECG strips
 * older than that are deleted at open and every hour ({@link SqliteVitalsStore.prune}), in small
 * batches with the event loop free between them, so the processor's writes wait at most one batch.
 * Only the writer's store prunes: a reader of the same file (`prune: false`) only says the retention.
 * "Older" is by device time, the only time stored: the gateway refuses frames whose device time is
 * more than 24 h from its own clock (contracts/telemetry.ts FRAME_LIMITS.maxClockSkewMs, reason
 * `clock_skew`), so device time is within a day of the receive time and a wrong device clock moves
 * a point's deletion by at most a day (InfluxDB's retention goes by the same timestamps). Deleted
 * rows' pages are reused by new rows: the file stops growing, it does not shrink (no VACUUM, which
 * would lock the file for its whole run).
 */
import type { DatabaseSync } from 'node:sqlite';
import { inTransaction, openSqliteFile, storageError } from '../sqlite-file.ts';
import type { Logger } from '../log.ts';
import { PulsebridgeError } from '../errors.ts';
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

export interface SqliteVitalsStoreOptions {
  /** Points and ECG strips older than this many days (device time) are deleted; absent: kept forever. */
  retentionDays?: number;
  /** How often the store prunes while open, ms (default an hour); it also prunes right after opening. */
  pruneIntervalMs?: number;
  /** Rows one delete statement removes at most: one batch, one short write transaction (default 2,000). */
  pruneBatchRows?: number;
  /** Pause after every 5 ms of pruning, ms (default 10): other connections' writes get the lock meanwhile. */
  pruneYieldMs?: number;
  /**
   * Whether this store deletes what is older than the retention (default true). False for a
   * reader of a file another process writes (the dashboard API beside a processor): only the writer
   * prunes, so two processes do not walk and delete the same rows every hour; the reader still says
   * which retention is in force.
   */
  prune?: boolean;
  /** Says at open which retention is in force, and what a prune deleted. */
  logger?: Pick<Logger, 'info' | 'warn'>;
  /** Wall clock, ms (tests). */
  now?: () => number;
}

/** What one prune deleted. */
export interface PruneResult {
  heartRate: number;
  rr: number;
  ecgStrips: number;
}

export const SQLITE_PRUNE_DEFAULTS = { pruneIntervalMs: 60 * 60_000, pruneBatchRows: 2_000, pruneYieldMs: 10 } as const;
const DAY_MS = 24 * 60 * 60_000;
/** Work of a prune between two pauses, ms: what a write waits at most (plus one statement). */
const PRUNE_SLICE_MS = 5;
/** ECG strips are ≈ 20 KB each: fewer per batch. */
const STRIPS_PER_BATCH = 100;

export class SqliteVitalsStore implements VitalsStore {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #retentionDays: number | undefined;
  readonly #batchRows: number;
  readonly #yieldMs: number;
  readonly #logger: Pick<Logger, 'info' | 'warn'> | undefined;
  readonly #now: () => number;
  #pruning: Promise<PruneResult> | undefined;
  #timers: NodeJS.Timeout[] = [];
  #closed = false;
  #sliceStart = 0;

  /** @param path a file path, or ':memory:' */
  constructor(path: string, options: SqliteVitalsStoreOptions = {}) {
    const days = options.retentionDays;
    if (days !== undefined && !(Number.isInteger(days) && days >= 1)) {
      throw new PulsebridgeError('PB_CONFIG_INVALID', `retentionDays must be a whole number of days >= 1, not ${days}`);
    }
    this.#path = path;
    this.#retentionDays = days;
    this.#batchRows = options.pruneBatchRows ?? SQLITE_PRUNE_DEFAULTS.pruneBatchRows;
    this.#yieldMs = options.pruneYieldMs ?? SQLITE_PRUNE_DEFAULTS.pruneYieldMs;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#db = openSqliteFile(path, 'the vitals database');
    try {
      // busy_timeout: another connection's write (a prune of the same file, another process) makes
      // a write here wait for it, one prune batch at most, instead of failing at once with SQLITE_BUSY.
      this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS ecg_strip (
        alert_id TEXT NOT NULL PRIMARY KEY, patient_id TEXT NOT NULL, device_id TEXT NOT NULL, start_ms INTEGER NOT NULL, strip TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS ecg_strip_start_ms ON ecg_strip (start_ms);
    `);
      for (const t of POINT_TABLES) createPointTable(this.#db, t, path);
    } catch (err) {
      this.#db.close();
      throw storageError(err, 'the vitals database', path);
    }
    if (days === undefined) {
      this.#logger?.info('vitals retention: forever (PULSEBRIDGE_VITALS_RETENTION_DAYS unset): the SQLite vitals file keeps every point', { path });
      return;
    }
    const intervalMs = options.pruneIntervalMs ?? SQLITE_PRUNE_DEFAULTS.pruneIntervalMs;
    if (options.prune === false) {
      this.#logger?.info(`vitals retention: ${days} days: points and ECG strips older than that (device time) are deleted by the store's writer (the processor); this reader does not delete`, { path, retentionDays: days });
      return;
    }
    this.#logger?.info(`vitals retention: ${days} days: points and ECG strips older than that (device time) are deleted at open and every ${Math.round(intervalMs / 60_000)} min`, { path, retentionDays: days });
    this.#timers.push(setTimeout(() => void this.#pruneInBackground(), 0).unref(), setInterval(() => void this.#pruneInBackground(), intervalMs).unref());
  }

  /**
   * Deletes the points and ECG strips older than the retention (device time before `nowMs` minus
   * the retention days); nothing without a retention. Batches of at most `pruneBatchRows` rows,
   * each its own short transaction, with the event loop free in between: the processor's writes
   * (this connection or another) wait one batch at most. A point table is walked patient by patient
   * along its key (patient, time, …), so each batch is a range read, not a scan of the table. One
   * prune at a time: a call while one runs gets that one's result. Stops early when the store is closed.
   */
  prune(nowMs: number = this.#now()): Promise<PruneResult> {
    if (this.#retentionDays === undefined || this.#closed) return Promise.resolve({ heartRate: 0, rr: 0, ecgStrips: 0 });
    this.#pruning ??= this.#prune(nowMs - this.#retentionDays * DAY_MS).finally(() => {
      this.#pruning = undefined;
    });
    return this.#pruning;
  }

  async #pruneInBackground(): Promise<void> {
    const startedMs = Date.now();
    try {
      const deleted = await this.prune();
      if (deleted.heartRate + deleted.rr + deleted.ecgStrips > 0) {
        this.#logger?.info(`deleted vitals older than ${this.#retentionDays} days`, { ...deleted, ms: Date.now() - startedMs });
      }
    } catch (err) {
      // Next hour again; a full disk can refuse even a delete (the WAL grows first).
      if (!this.#closed) this.#logger?.warn('deleting vitals older than the retention failed; trying again at the next prune', { err: err as Error, path: this.#path });
    }
  }

  async #prune(cutoffMs: number): Promise<PruneResult> {
    this.#sliceStart = performance.now();
    const result: PruneResult = { heartRate: 0, rr: 0, ecgStrips: 0 };
    for (const [table, key] of [['heart_rate', 'heartRate'], ['rr_interval', 'rr']] as const) {
      const first = this.#db.prepare(`SELECT patient_id FROM ${table} ORDER BY patient_id LIMIT 1`);
      const next = this.#db.prepare(`SELECT patient_id FROM ${table} WHERE patient_id > ? ORDER BY patient_id LIMIT 1`);
      const del = this.#db.prepare(
        `DELETE FROM ${table} WHERE (patient_id, time_ms, device_id, seq) IN
          (SELECT patient_id, time_ms, device_id, seq FROM ${table} WHERE patient_id = ? AND time_ms < ? ORDER BY time_ms LIMIT ?)`,
      );
      // A read first: a patient with nothing to delete costs an index seek and takes no write lock.
      const any = this.#db.prepare(`SELECT 1 FROM ${table} WHERE patient_id = ? AND time_ms < ? LIMIT 1`);
      let row = first.get() as { patient_id: string } | undefined;
      while (row) {
        const patient = row.patient_id;
        if (any.get(patient, cutoffMs)) {
          for (;;) {
            const n = Number(this.#write(() => del.run(patient, cutoffMs, this.#batchRows)).changes);
            result[key] += n;
            await this.#yieldIfDue();
            if (this.#closed) return result;
            if (n < this.#batchRows) break;
          }
        } else {
          await this.#yieldIfDue();
          if (this.#closed) return result;
        }
        row = next.get(patient) as { patient_id: string } | undefined;
      }
    }
    const delStrips = this.#db.prepare('DELETE FROM ecg_strip WHERE alert_id IN (SELECT alert_id FROM ecg_strip WHERE start_ms < ? LIMIT ?)');
    for (;;) {
      const n = Number(this.#write(() => delStrips.run(cutoffMs, STRIPS_PER_BATCH)).changes);
      result.ecgStrips += n;
      if (n < STRIPS_PER_BATCH) return result;
      await this.#yieldIfDue();
      if (this.#closed) return result;
    }
  }

  /** One statement as its own transaction; a storage failure named like the other writes'. */
  #write<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw storageError(err, 'the vitals database', this.#path);
    }
  }

  /**
   * Once the prune has worked {@link PRUNE_SLICE_MS} since its last pause: a pause of `pruneYieldMs`,
   * the event loop and the write lock free. The pause is wall time, not one event-loop turn: another
   * process writing the file (a `pulsebridge processor` beside the API) waits in SQLite's busy
   * handler, which retries after sleeps of 1, 2, 5, 10… ms, and with only a turn between batches
   * the lock was free for microseconds and that writer waited out the whole prune (~1 s per
   * million rows, measured). The caller checks #closed after it: the store may be closed meanwhile.
   */
  async #yieldIfDue(): Promise<void> {
    if (performance.now() - this.#sliceStart < PRUNE_SLICE_MS) return;
    await new Promise((resolve) => setTimeout(resolve, this.#yieldMs));
    this.#sliceStart = performance.now();
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
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    // A prune running stops at its next turn (it checks #closed before touching the database again).
    this.#db.close();
  }
}
