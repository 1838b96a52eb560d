/**
 * The registry's shared value types: a device, a time-bounded assignment and an audited change.
 * Every registry file and adapter imports them from here (a leaf: it imports nothing).
 */

/**
 * What the device directory writes in a device's audit trail ({@link AuditRecord.action}; the
 * commands add `command.create`, `command.ok`, …). `rekey`: the device's certificate was replaced
 * and the old one revoked (`pulsebridge device rekey`); its before and after are the device with
 * the old and the new `certificateSerial`. Readers take any action: a trail written by a newer
 * version may hold ones this version does not know (the SQLite table stores text; the bus fold
 * applies an event whatever its action).
 */
export type DirectoryAuditAction = 'add' | 'assign' | 'unassign' | 'enable' | 'disable' | 'rekey';

/** One audited change: who did what to a device, when, and the state before and after. */
export interface AuditRecord {
  /** Wall-clock time, ms since the epoch. */
  atMs: number;
  actor: string;
  /** A {@link DirectoryAuditAction}, `command.create`, `command.ok`, …; any string from a newer writer. */
  action: string;
  deviceId: string;
  before: unknown;
  after: unknown;
}

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

/** Synchronous in the embedded adapter; a log-backed adapter resolves once its write is visible. */
export type MaybePromise<T> = T | Promise<T>;

