/**
 * The registry's shared value types: a device, a time-bounded assignment and an audited change.
 * Every registry file and adapter imports them from here (a leaf: it imports nothing).
 */

/** One audited change: who did what to a device, when, and the state before and after. */
export interface AuditRecord {
  /** Wall-clock time, ms since the epoch. */
  atMs: number;
  actor: string;
  /** `add`, `assign`, `unassign`, `enable`, `disable`, `command.create`, `command.ok`, … */
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

