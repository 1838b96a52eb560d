/**
 * The embedded device-registry database (node:sqlite, one file in the data folder): schema,
 * prepared-statement cache, change counters and the audit trail shared by the device directory,
 * the liveness store and the command store. Several processes open the same file (the CLI while
 * the demo or the gateway runs), so every write is a short transaction and readers notice other
 * processes' changes through the change counters in `registry_meta`.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { inTransaction, openSqliteFile, storageError } from '../sqlite-file.ts';
import type { AuditRecord } from './types.ts';

/** Keys of the change counters in `registry_meta`. */
export type ChangeCounter = 'directory_version' | 'command_version';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS device (
    device_id TEXT PRIMARY KEY, enabled INTEGER NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS assignment (
    device_id TEXT NOT NULL, patient_id TEXT NOT NULL, from_ms INTEGER NOT NULL, to_ms INTEGER,
    PRIMARY KEY (device_id, from_ms));
  CREATE TABLE IF NOT EXISTS audit (
    at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, device_id TEXT NOT NULL,
    before TEXT, after TEXT);
  CREATE INDEX IF NOT EXISTS audit_by_device ON audit (device_id, at);
  CREATE TABLE IF NOT EXISTS registry_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS device_liveness (
    device_id TEXT PRIMARY KEY,
    connected INTEGER NOT NULL,
    gateway_id TEXT,
    connected_at INTEGER, disconnected_at INTEGER, disconnect_reason TEXT,
    last_seen_at INTEGER, last_frame_at INTEGER, last_seq INTEGER,
    reported_online INTEGER, status_at INTEGER,
    fw TEXT, model TEXT, battery INTEGER, charging INTEGER,
    clock_skew_ms REAL, last_clock_skew_ms INTEGER,
    updated_at INTEGER NOT NULL, last_frame_patient TEXT);
  CREATE TABLE IF NOT EXISTS gateway_instance (gateway_id TEXT PRIMARY KEY, heartbeat_at INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS command (
    cmd_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
    state TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL,
    expires_at INTEGER NOT NULL, timeout_ms INTEGER NOT NULL,
    delivered_at INTEGER, deadline_at INTEGER, delivery_count INTEGER NOT NULL DEFAULT 0,
    result_at INTEGER, result_ok INTEGER, result_error TEXT, finished_at INTEGER);
  CREATE INDEX IF NOT EXISTS command_by_device ON command (device_id, created_at);
  CREATE INDEX IF NOT EXISTS command_open ON command (state) WHERE state IN ('pending', 'delivered');
`;

export class RegistryDb {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #statements = new Map<string, StatementSync>();
  readonly now: () => number;

  constructor(path: string, now: () => number = Date.now) {
    this.#path = path;
    this.#db = openSqliteFile(path, 'the device registry database');
    this.now = now;
    try {
      // WAL: readers (dashboard-api, CLI) never block the gateway's writes and vice versa.
      // busy_timeout: concurrent writers from other processes wait instead of failing.
      this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
      this.#db.exec(SCHEMA);
      this.#addMissingColumns();
    } catch (err) {
      this.#db.close();
      throw storageError(err, 'the device registry database', path);
    }
  }

  /** Columns added after a registry file may have been created (SQLite appends them, as in SCHEMA). */
  #addMissingColumns(): void {
    const has = (table: string, column: string) =>
      (this.#db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
    // Session 31: the patient of the device's last frame (liveness.ts DeviceLiveness.lastFramePatientId).
    if (!has('device_liveness', 'last_frame_patient')) this.#db.exec('ALTER TABLE device_liveness ADD COLUMN last_frame_patient TEXT');
  }

  /** A cached prepared statement: the gateway resolves a patient per frame, so preparing once matters. */
  stmt(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  /** Runs `fn` in one IMMEDIATE transaction (write lock taken up front, so no upgrade deadlocks). */
  transaction<T>(fn: () => T): T {
    return inTransaction(this.#db, 'BEGIN IMMEDIATE', fn, 'the device registry database', this.#path);
  }

  /** Current value of a change counter (0 before the first change). */
  version(counter: ChangeCounter): number {
    const row = this.stmt('SELECT value FROM registry_meta WHERE key = ?').get(counter) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  /** Increments a change counter; call inside the transaction that makes the change. */
  bump(counter: ChangeCounter): void {
    this.stmt('INSERT INTO registry_meta VALUES (?, 1) ON CONFLICT(key) DO UPDATE SET value = value + 1').run(counter);
  }

  /** Appends one audit record; call inside the transaction that makes the change. */
  audit(actor: string, action: string, deviceId: string, before: unknown, after: unknown): void {
    this.stmt('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)').run(this.now(), actor, action, deviceId, JSON.stringify(before ?? null), JSON.stringify(after ?? null));
  }

  /** The audit trail of one device, oldest first. */
  auditOf(deviceId: string): AuditRecord[] {
    const rows = this.stmt('SELECT at, actor, action, device_id, before, after FROM audit WHERE device_id = ? ORDER BY at, rowid').all(deviceId) as {
      at: number; actor: string; action: string; device_id: string; before: string | null; after: string | null;
    }[];
    return rows.map((r) => ({
      atMs: r.at, actor: r.actor, action: r.action, deviceId: r.device_id,
      before: r.before === null ? null : JSON.parse(r.before) as unknown,
      after: r.after === null ? null : JSON.parse(r.after) as unknown,
    }));
  }

  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}
