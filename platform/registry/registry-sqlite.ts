/**
 * The embedded registry adapter: one SQLite file in the data folder (node:sqlite) that the CLI
 * changes while the demo or the gateway runs. Directory, liveness and commands share the file.
 */
import { DEVICE_ID_PATTERN } from '../../contracts/topics.ts';
import { checkPatientId, checkTime, planAdd, planAssign, planUnassign } from './assignments.ts';
import { SqliteDeviceCommandStore } from './commands-sqlite.ts';
import { SqliteDeviceLivenessStore } from './liveness-sqlite.ts';
import { PulsebridgeError } from '../errors.ts';
import { RegistryDb } from './db.ts';
import type { CertificateSerials, Registry } from './registry.ts';
import type { Assignment, AuditRecord, DeviceRecord, DirectoryAuditAction } from './types.ts';

interface AssignmentRow { patient_id: string; from_ms: number; to_ms: number | null }

export interface DeviceRegistryOptions {
  /** Wall clock, ms since the epoch (tests). */
  now?: () => number;
}

export class DeviceRegistry implements Registry {
  readonly #db: RegistryDb;
  /** Connection state, status and clock skew of each device, written by the gateway. */
  readonly liveness: SqliteDeviceLivenessStore;
  /** Persistent device commands with time-to-live, delivered by the gateway. */
  readonly commands: SqliteDeviceCommandStore;

  constructor(path: string, options: DeviceRegistryOptions = {}) {
    this.#db = new RegistryDb(path, options.now);
    this.liveness = new SqliteDeviceLivenessStore(this.#db);
    this.commands = new SqliteDeviceCommandStore(this.#db, this);
  }

  add(deviceId: string, patientId: string, actor: string, fromMs = this.#db.now()): DeviceRecord {
    if (!DEVICE_ID_PATTERN.test(deviceId)) throw new PulsebridgeError('PB_REGISTRY_INVALID', `device id "${deviceId}" must match ${DEVICE_ID_PATTERN}`);
    checkPatientId(patientId);
    this.#db.transaction(() => {
      const before = this.#snapshot(deviceId);
      this.#db.stmt('INSERT INTO device VALUES (?, 1, ?) ON CONFLICT(device_id) DO UPDATE SET enabled = 1').run(deviceId, this.#db.now());
      this.#replaceAssignments(deviceId, planAdd(before?.assignments ?? [], patientId, fromMs));
      this.#changed(actor, 'add', deviceId, before);
    });
    return this.get(deviceId)!;
  }

  assign(deviceId: string, patientId: string, fromMs: number, actor: string): DeviceRecord {
    checkPatientId(patientId);
    checkTime('fromMs', fromMs);
    this.#db.transaction(() => {
      const before = this.#requireSnapshot(deviceId);
      const next = planAssign(deviceId, before.assignments, patientId, fromMs);
      if (!next) return; // already assigned since before fromMs: nothing changes
      this.#replaceAssignments(deviceId, next);
      this.#changed(actor, 'assign', deviceId, before);
    });
    return this.get(deviceId)!;
  }

  unassign(deviceId: string, atMs: number, actor: string): DeviceRecord {
    checkTime('atMs', atMs);
    this.#db.transaction(() => {
      const before = this.#requireSnapshot(deviceId);
      this.#replaceAssignments(deviceId, planUnassign(deviceId, before.assignments, atMs));
      this.#changed(actor, 'unassign', deviceId, before);
    });
    return this.get(deviceId)!;
  }

  setEnabled(deviceId: string, enabled: boolean, actor: string): DeviceRecord {
    this.#db.transaction(() => {
      const before = this.#requireSnapshot(deviceId);
      if (before.enabled === enabled) return;
      this.#db.stmt('UPDATE device SET enabled = ? WHERE device_id = ?').run(enabled ? 1 : 0, deviceId);
      this.#changed(actor, enabled ? 'enable' : 'disable', deviceId, before);
    });
    return this.get(deviceId)!;
  }

  recordRekey(deviceId: string, serials: CertificateSerials, actor: string): void {
    this.#db.transaction(() => {
      const device = this.#requireSnapshot(deviceId);
      // Not a directory change (the version stays): the gateway follows certificates through the CRL.
      this.#db.audit(actor, 'rekey', deviceId, { ...device, certificateSerial: serials.revokedSerial }, { ...device, certificateSerial: serials.serial });
    });
  }

  get(deviceId: string): DeviceRecord | undefined {
    const row = this.#db.stmt('SELECT device_id, enabled, created_at FROM device WHERE device_id = ?').get(deviceId) as
      | { device_id: string; enabled: number; created_at: number }
      | undefined;
    if (!row) return undefined;
    const now = this.#db.now();
    const current = this.#db
      .stmt('SELECT patient_id FROM assignment WHERE device_id = ? AND from_ms <= ? AND (to_ms IS NULL OR to_ms > ?) ORDER BY from_ms DESC LIMIT 1')
      .get(deviceId, now, now) as { patient_id: string } | undefined;
    return { deviceId: row.device_id, enabled: row.enabled === 1, createdAt: row.created_at, patientId: current?.patient_id };
  }

  patientAt(deviceId: string, timeMs: number): string | undefined {
    const row = this.#db
      .stmt('SELECT patient_id FROM assignment WHERE device_id = ? AND from_ms <= ? AND (to_ms IS NULL OR to_ms > ?) ORDER BY from_ms DESC LIMIT 1')
      .get(deviceId, timeMs, timeMs) as { patient_id: string } | undefined;
    if (row) return row.patient_id;
    // A frame stamped slightly before the first assignment (device clock behind the gateway)
    // still belongs to the first patient: nobody else could have worn the device.
    const first = this.#db.stmt('SELECT patient_id, to_ms FROM assignment WHERE device_id = ? ORDER BY from_ms ASC LIMIT 1').get(deviceId) as
      | { patient_id: string; to_ms: number | null }
      | undefined;
    if (first && (first.to_ms === null || first.to_ms > timeMs)) return first.patient_id;
    return undefined;
  }

  assignments(deviceId: string): Assignment[] {
    const rows = this.#db.stmt('SELECT patient_id, from_ms, to_ms FROM assignment WHERE device_id = ? AND (to_ms IS NULL OR to_ms > from_ms) ORDER BY from_ms')
      .all(deviceId) as unknown as AssignmentRow[];
    return rows.map((r) => ({ patientId: r.patient_id, fromMs: r.from_ms, toMs: r.to_ms ?? undefined }));
  }

  list(): DeviceRecord[] {
    const ids = this.#db.stmt('SELECT device_id FROM device ORDER BY device_id').all() as { device_id: string }[];
    return ids.map((r) => this.get(r.device_id)!);
  }

  changeVersion(): number {
    return this.#db.version('directory_version');
  }

  audit(deviceId: string): AuditRecord[] {
    return this.#db.auditOf(deviceId);
  }

  close(): void {
    this.#db.close();
  }

  /** Writes a device's whole assignment history (a few rows), as planned by platform/registry/assignments.ts. */
  #replaceAssignments(deviceId: string, history: readonly Assignment[]): void {
    this.#db.stmt('DELETE FROM assignment WHERE device_id = ?').run(deviceId);
    const insert = this.#db.stmt('INSERT INTO assignment VALUES (?, ?, ?, ?)');
    for (const a of history) insert.run(deviceId, a.patientId, a.fromMs, a.toMs ?? null);
  }

  /** The audited state of a device: the record plus its whole assignment history. */
  #snapshot(deviceId: string): (DeviceRecord & { assignments: Assignment[] }) | undefined {
    const record = this.get(deviceId);
    return record && { ...record, assignments: this.assignments(deviceId) };
  }

  #requireSnapshot(deviceId: string): DeviceRecord & { assignments: Assignment[] } {
    const s = this.#snapshot(deviceId);
    if (!s) throw new PulsebridgeError('PB_REGISTRY_UNKNOWN_DEVICE', `device "${deviceId}" is not registered`);
    return s;
  }

  #changed(actor: string, action: DirectoryAuditAction, deviceId: string, before: unknown): void {
    this.#db.bump('directory_version');
    this.#db.audit(actor, action, deviceId, before, this.#snapshot(deviceId));
  }
}
