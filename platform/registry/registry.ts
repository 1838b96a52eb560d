/**
 * Device registry: which devices exist, whether they are enabled, and which patient each one
 * is assigned to over time (time-bounded assignments: a frame belongs to the patient assigned at
 * the frame's device time). Every change is audited (who, when, before, after).
 *
 * {@link DeviceDirectory} is the port and {@link Registry} the whole registry (directory, device
 * liveness, persistent commands). Two adapters, chosen by platform/adapters.ts `openRegistry`:
 * - embedded (in-process bus): {@link DeviceRegistry}, one SQLite file in the data folder
 *   (node:sqlite) that the CLI changes while the demo or the gateway runs;
 * - production (Kafka): platform/registry/registry-bus.ts, three streams every gateway, API instance and
 *   CLI run folds into memory, so instances on any number of hosts share one registry.
 * Both pass the same contract tests (test/platform/registry/*-contract*, *-scenarios.ts).
 */
import type { DeviceCommandStore } from './commands.ts';
import type { DeviceLivenessStore } from './liveness.ts';
import type { Assignment, AuditRecord, DeviceRecord, MaybePromise } from './types.ts';

/** A re-keyed device's certificates: the one revoked and the one issued in its place (hex serials). */
export interface CertificateSerials {
  revokedSerial: string;
  serial: string;
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
  /**
   * Audits a certificate replacement done outside the registry (the PKI: `device rekey`), once it
   * succeeded: action `rekey`, before and after the device with the revoked and the new serial as
   * `certificateSerial`. The device itself does not change.
   */
  recordRekey(deviceId: string, serials: CertificateSerials, actor: string): MaybePromise<void>;
  /** Every audited change of the device (registry changes and commands), oldest first. */
  audit(deviceId: string): MaybePromise<AuditRecord[]>;
}

/**
 * The whole registry as components use it: the directory plus device liveness and persistent
 * commands, whose `audit` covers registry changes and commands. Embedded: {@link DeviceRegistry}
 * (one SQLite file); production on Kafka: platform/registry/registry-bus.ts.
 */
export interface Registry extends DeviceDirectory {
  readonly liveness: DeviceLivenessStore;
  readonly commands: DeviceCommandStore;
  close(): MaybePromise<void>;
}

