/**
 * The device directory on the bus (Kafka in production): a {@link DeviceDirectory} shared by every
 * gateway, processor, API instance and the CLI, with no database to share.
 *
 * Event-sourced on {@link BusEntityLog} (stream `pb.device-events.v1`, one partition, kept
 * forever): the registry must keep its whole audit trail (who, when, before, after) anyway, and
 * every instance folds the log into memory, so reads are synchronous and cheap (the gateway
 * resolves a patient per frame). Concurrent changes of one device are optimistic (see the log).
 */
import { DEVICE_ID_PATTERN } from '../../contracts/topics.ts';
import { checkPatientId, checkTime, patientAtTime, patientNow, planAdd, planAssign, planUnassign } from './assignments.ts';
import type { Bus } from '../bus/index.ts';
import { BusEntityLog, type AuditedBeside, type ChangePlan } from './entity-log.ts';
import type { Assignment, AuditRecord, DeviceRecord, DirectoryAuditAction } from './types.ts';
import type { CertificateSerials, DeviceDirectory } from './registry.ts';
import { PulsebridgeError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** The stream of device changes (and sync markers). */
export const DEVICE_EVENTS_STREAM = 'pb.device-events.v1';

interface DeviceState { deviceId: string; enabled: boolean; createdAt: number; assignments: Assignment[] }

export interface BusDeviceDirectoryOptions {
  bus: Bus;
  logger: Logger;
  /** Consumer group of this instance's fold; default a unique one (every instance reads everything). */
  groupId?: string;
  /** Keep the audit trail in memory (default true; gateways do without). */
  keepAuditTrail?: boolean;
  now?: () => number;
  /** How long a change or a sync waits to see its own event folded. Default 10 s. */
  visibleTimeoutMs?: number;
}

export class BusDeviceDirectory implements DeviceDirectory {
  readonly #now: () => number;
  #log!: BusEntityLog<DeviceState>;

  private constructor(now: () => number) {
    this.#now = now;
  }

  /** Creates the stream if needed, replays it and resolves once this instance has caught up. */
  static async open(options: BusDeviceDirectoryOptions): Promise<BusDeviceDirectory> {
    const now = options.now ?? Date.now;
    const directory = new BusDeviceDirectory(now);
    directory.#log = await BusEntityLog.open<DeviceState>({
      bus: options.bus,
      stream: DEVICE_EVENTS_STREAM,
      eventSchema: 'pb.device-event.v1',
      logger: options.logger,
      // The audited shape, as the SQLite registry writes it.
      audited: (s) => directory.#snapshot(s),
      now,
      ...(options.groupId ? { groupId: options.groupId } : {}),
      ...(options.keepAuditTrail === false ? { keepAuditTrail: false } : {}),
      ...(options.visibleTimeoutMs ? { visibleTimeoutMs: options.visibleTimeoutMs } : {}),
    });
    return directory;
  }

  /** Resolves once every change published before the call is folded here (read-your-writes across instances). */
  sync(): Promise<void> {
    return this.#log.sync();
  }

  close(): Promise<void> {
    return this.#log.close();
  }

  // ---- reads (synchronous, from the fold) ---------------------------------------------------

  get(deviceId: string): DeviceRecord | undefined {
    const f = this.#log.get(deviceId);
    return f && this.#record(f.state);
  }

  list(): DeviceRecord[] {
    return [...this.#log.entities()].map(([id]) => id).sort().map((id) => this.get(id)!);
  }

  patientAt(deviceId: string, timeMs: number): string | undefined {
    const f = this.#log.get(deviceId);
    return f && patientAtTime(f.state.assignments, timeMs);
  }

  assignments(deviceId: string): Assignment[] {
    return (this.#log.get(deviceId)?.state.assignments ?? []).map((a) => ({ ...a }));
  }

  changeVersion(): number {
    return this.#log.version();
  }

  async audit(deviceId: string): Promise<AuditRecord[]> {
    await this.sync();
    return this.#log.auditOf(deviceId);
  }

  // ---- changes ------------------------------------------------------------------------------

  async add(deviceId: string, patientId: string, actor: string, fromMs = this.#now()): Promise<DeviceRecord> {
    if (!DEVICE_ID_PATTERN.test(deviceId)) throw new PulsebridgeError('PB_REGISTRY_INVALID', `device id "${deviceId}" must match ${DEVICE_ID_PATTERN}`);
    checkPatientId(patientId);
    return this.#change(deviceId, actor, 'add', (cur) => ({
      deviceId,
      enabled: true,
      createdAt: cur?.createdAt ?? this.#now(),
      assignments: planAdd(cur?.assignments ?? [], patientId, fromMs),
    }), true);
  }

  async assign(deviceId: string, patientId: string, fromMs: number, actor: string): Promise<DeviceRecord> {
    checkPatientId(patientId);
    checkTime('fromMs', fromMs);
    return this.#change(deviceId, actor, 'assign', (cur) => {
      const next = planAssign(deviceId, cur!.assignments, patientId, fromMs);
      return next && { ...cur!, assignments: next };
    });
  }

  async unassign(deviceId: string, atMs: number, actor: string): Promise<DeviceRecord> {
    checkTime('atMs', atMs);
    return this.#change(deviceId, actor, 'unassign', (cur) => ({ ...cur!, assignments: planUnassign(deviceId, cur!.assignments, atMs) }));
  }

  async setEnabled(deviceId: string, enabled: boolean, actor: string): Promise<DeviceRecord> {
    return this.#change(deviceId, actor, enabled ? 'enable' : 'disable', (cur) => (cur!.enabled === enabled ? undefined : { ...cur!, enabled }));
  }

  async recordRekey(deviceId: string, serials: CertificateSerials, actor: string): Promise<void> {
    // An event that leaves the device as it is (so a version that does not know `rekey` folds it
    // like any change) and gives the audit trail the serials beside it.
    await this.#change(deviceId, actor, 'rekey', (cur) => cur, false, {
      before: { certificateSerial: serials.revokedSerial }, after: { certificateSerial: serials.serial },
    });
  }

  async #change(deviceId: string, actor: string, action: DirectoryAuditAction, plan: ChangePlan<DeviceState>, mayCreate = false, audited?: AuditedBeside): Promise<DeviceRecord> {
    await this.#log.change(deviceId, deviceId, actor, action, (cur) => {
      if (!cur && !mayCreate) throw new PulsebridgeError('PB_REGISTRY_UNKNOWN_DEVICE', `device "${deviceId}" is not registered`);
      return plan(cur);
    }, audited);
    return this.get(deviceId)!;
  }

  #record(s: DeviceState): DeviceRecord {
    return { deviceId: s.deviceId, enabled: s.enabled, createdAt: s.createdAt, patientId: patientNow(s.assignments, this.#now()) };
  }

  #snapshot(s: DeviceState): DeviceRecord & { assignments: Assignment[] } {
    return { ...this.#record(s), assignments: s.assignments.map((a) => ({ ...a })) };
  }
}
