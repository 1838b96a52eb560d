/**
 * Device registry: which devices exist, whether they are enabled, and which patient each one
 * is assigned to over time. SQLite file in the data folder (node:sqlite), so the CLI can add a
 * device while the demo runs; every change is audited.
 */
import fs from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DEVICE_ID_PATTERN } from '../contracts/topics.ts';
import { PulsebridgeError } from './errors.ts';

export interface DeviceRecord {
  deviceId: string;
  enabled: boolean;
  createdAt: number;
  /** Current patient assignment, if any. */
  patientId: string | undefined;
}

const PATIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export class DeviceRegistry {
  readonly #db: DatabaseSync;

  constructor(path: string) {
    if (path !== ':memory:') fs.mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS device (
        device_id TEXT PRIMARY KEY, enabled INTEGER NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS assignment (
        device_id TEXT NOT NULL, patient_id TEXT NOT NULL, from_ms INTEGER NOT NULL, to_ms INTEGER,
        PRIMARY KEY (device_id, from_ms));
      CREATE TABLE IF NOT EXISTS audit (
        at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, device_id TEXT NOT NULL,
        before TEXT, after TEXT);
    `);
  }

  /** Registers a device (or re-enables it) and assigns it to a patient from `fromMs` on. */
  add(deviceId: string, patientId: string, actor: string, fromMs = Date.now()): DeviceRecord {
    if (!DEVICE_ID_PATTERN.test(deviceId)) throw new PulsebridgeError('PB_REGISTRY_INVALID', `device id "${deviceId}" must match ${DEVICE_ID_PATTERN}`);
    if (!PATIENT_ID_PATTERN.test(patientId)) throw new PulsebridgeError('PB_REGISTRY_INVALID', `patient id "${patientId}" must match ${PATIENT_ID_PATTERN}`);
    const before = this.get(deviceId);
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      this.#db.prepare('INSERT INTO device VALUES (?, 1, ?) ON CONFLICT(device_id) DO UPDATE SET enabled = 1').run(deviceId, Date.now());
      if (before?.patientId !== patientId) {
        this.#db.prepare('UPDATE assignment SET to_ms = ? WHERE device_id = ? AND to_ms IS NULL').run(fromMs, deviceId);
        this.#db.prepare('INSERT OR REPLACE INTO assignment VALUES (?, ?, ?, NULL)').run(deviceId, patientId, fromMs);
      }
      this.#audit(actor, 'add', deviceId, before);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
    return this.get(deviceId)!;
  }

  setEnabled(deviceId: string, enabled: boolean, actor: string): DeviceRecord {
    const before = this.get(deviceId);
    if (!before) throw new PulsebridgeError('PB_REGISTRY_UNKNOWN_DEVICE', `device "${deviceId}" is not registered`);
    this.#db.prepare('UPDATE device SET enabled = ? WHERE device_id = ?').run(enabled ? 1 : 0, deviceId);
    this.#audit(actor, enabled ? 'enable' : 'disable', deviceId, before);
    return this.get(deviceId)!;
  }

  get(deviceId: string): DeviceRecord | undefined {
    const row = this.#db.prepare('SELECT device_id, enabled, created_at FROM device WHERE device_id = ?').get(deviceId) as
      | { device_id: string; enabled: number; created_at: number }
      | undefined;
    if (!row) return undefined;
    const current = this.#db.prepare('SELECT patient_id FROM assignment WHERE device_id = ? AND to_ms IS NULL').get(deviceId) as
      | { patient_id: string }
      | undefined;
    return { deviceId: row.device_id, enabled: row.enabled === 1, createdAt: row.created_at, patientId: current?.patient_id };
  }

  /** The patient the device was assigned to at device time `timeMs`. */
  patientAt(deviceId: string, timeMs: number): string | undefined {
    const row = this.#db
      .prepare('SELECT patient_id FROM assignment WHERE device_id = ? AND from_ms <= ? AND (to_ms IS NULL OR to_ms > ?) ORDER BY from_ms DESC LIMIT 1')
      .get(deviceId, timeMs, timeMs) as { patient_id: string } | undefined;
    if (row) return row.patient_id;
    // A frame stamped slightly before the first assignment (device clock behind the gateway)
    // still belongs to the first patient: nobody else could have worn the device.
    const first = this.#db.prepare('SELECT patient_id, to_ms FROM assignment WHERE device_id = ? ORDER BY from_ms ASC LIMIT 1').get(deviceId) as
      | { patient_id: string; to_ms: number | null }
      | undefined;
    if (first && (first.to_ms === null || first.to_ms > timeMs)) return first.patient_id;
    return undefined;
  }

  list(): DeviceRecord[] {
    const ids = this.#db.prepare('SELECT device_id FROM device ORDER BY device_id').all() as { device_id: string }[];
    return ids.map((r) => this.get(r.device_id)!);
  }

  #audit(actor: string, action: string, deviceId: string, before: DeviceRecord | undefined): void {
    const after = this.get(deviceId);
    this.#db.prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)').run(Date.now(), actor, action, deviceId, JSON.stringify(before ?? null), JSON.stringify(after ?? null));
  }

  close(): void {
    this.#db.close();
  }
}
