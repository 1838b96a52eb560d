/**
 * Device registry: which devices exist, whether they are enabled, and which patient each one
 * is assigned to over time (time-bounded assignments: a frame belongs to the patient assigned at
 * the frame's device time). Every change is audited (who, when, before, after).
 *
 * {@link DeviceDirectory} is the port and {@link Registry} the whole registry (directory, device
 * liveness, persistent commands). Two adapters, chosen by platform/adapters.ts `openRegistry`:
 * - embedded (in-process bus): {@link DeviceRegistry}, one SQLite file in the data folder
 *   (node:sqlite) that the CLI changes while the demo or the gateway runs;
 * - production (Kafka): platform/registry-bus.ts, three streams every gateway, API instance and
 *   CLI run folds into memory, so instances on any number of hosts share one registry.
 * Both pass the same contract tests (test/platform/*-contract*, *-scenarios.ts).
 */
import { DEVICE_ID_PATTERN } from '../contracts/topics.ts';
import { checkPatientId, checkTime, planAdd, planAssign, planUnassign } from './assignments.ts';
import { SqliteDeviceCommandStore, type DeviceCommandStore } from './device-commands.ts';
import { SqliteDeviceLivenessStore, type DeviceLivenessStore } from './device-liveness.ts';
import { PulsebridgeError } from './errors.ts';
import { RegistryDb, type AuditRecord } from './registry-db.ts';

export type { AuditRecord } from './registry-db.ts';

export interface DeviceRecord {
  deviceId: string;
  enabled: boolean;
  createdAt: number;
  /** The patient assigned now (wall-clock time), if any. */
  patientId: string | undefined;
}

/** One time-bounded assignment: frames with device time in [fromMs, toMs) belong to the patient. */
export interface Assignment {
  patientId: string;
  fromMs: number;
  /** Undefined while open-ended. */
  toMs: number | undefined;
}

/** What the gateway needs: look-ups on the hot path and a cheap way to notice changes. */
export interface DeviceDirectoryReader {
  get(deviceId: string): DeviceRecord | undefined;
  list(): DeviceRecord[];
  /** The patient the device was assigned to at device time `timeMs`. */
  patientAt(deviceId: string, timeMs: number): string | undefined;
  /** Every assignment of the device, oldest first. */
  assignments(deviceId: string): Assignment[];
  /**
   * A counter that changes whenever a device or an assignment changes, in this process or any
   * other (the CLI). Polling it is how a gateway notices a disabled device (revocation).
   */
  changeVersion(): number;
}

/** Synchronous in the embedded adapter; a log-backed adapter resolves once its write is visible. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * The device-registry port: reads, audited changes, and the audit trail. Reads are synchronous
 * (the gateway resolves a patient per frame; a log-backed adapter serves them from memory);
 * changes and the audit trail may be asynchronous, and callers await them.
 */
export interface DeviceDirectory extends DeviceDirectoryReader {
  /** Registers a device (or re-enables it) and assigns it to a patient from `fromMs` on. */
  add(deviceId: string, patientId: string, actor: string, fromMs?: number): MaybePromise<DeviceRecord>;
  /**
   * Assigns the device to `patientId` from device time `fromMs` on; the assignment before it
   * ends at `fromMs`. History is never rewritten: `fromMs` may not lie before the start (or, for
   * a closed assignment, the end) of the device's latest assignment.
   */
  assign(deviceId: string, patientId: string, fromMs: number, actor: string): MaybePromise<DeviceRecord>;
  /** Ends the device's open assignment at device time `atMs`; later frames are dead-lettered as unassigned. */
  unassign(deviceId: string, atMs: number, actor: string): MaybePromise<DeviceRecord>;
  setEnabled(deviceId: string, enabled: boolean, actor: string): MaybePromise<DeviceRecord>;
  /** Every audited change of the device (registry changes and commands), oldest first. */
  audit(deviceId: string): MaybePromise<AuditRecord[]>;
}

/**
 * The whole registry as components use it: the directory plus device liveness and persistent
 * commands, whose `audit` covers registry changes and commands. Embedded: {@link DeviceRegistry}
 * (one SQLite file); production on Kafka: platform/registry-bus.ts.
 */
export interface Registry extends DeviceDirectory {
  readonly liveness: DeviceLivenessStore;
  readonly commands: DeviceCommandStore;
  close(): MaybePromise<void>;
}

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

  /** Writes a device's whole assignment history (a few rows), as planned by platform/assignments.ts. */
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

  #changed(actor: string, action: string, deviceId: string, before: unknown): void {
    this.#db.bump('directory_version');
    this.#db.audit(actor, action, deviceId, before, this.#snapshot(deviceId));
  }
}
