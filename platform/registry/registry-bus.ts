/**
 * The device registry in production on Kafka: directory, liveness and commands each folded from
 * their own stream (platform/registry/directory-bus.ts, liveness-bus.ts,
 * device-commands-bus.ts), so every gateway, API instance and CLI run on any host shares one
 * registry through the bus. Same {@link Registry} interface as the embedded SQLite registry.
 */
import type { Bus } from '../bus/index.ts';
import { BusDeviceCommandStore } from './commands-bus.ts';
import { BusDeviceDirectory } from './directory-bus.ts';
import { BusDeviceLivenessStore } from './liveness-bus.ts';
import type { Assignment, AuditRecord, DeviceRecord } from './types.ts';
import type { CertificateSerials, Registry } from './registry.ts';
import type { Logger } from '../log.ts';

export interface BusRegistryOptions {
  bus: Bus;
  logger: Logger;
  now?: () => number;
  /** Keep the audit trail in memory (default true). Gateways never read it and open without. */
  keepAuditTrail?: boolean;
}

export class BusRegistry implements Registry {
  readonly directory: BusDeviceDirectory;
  readonly liveness: BusDeviceLivenessStore;
  readonly commands: BusDeviceCommandStore;

  private constructor(directory: BusDeviceDirectory, liveness: BusDeviceLivenessStore, commands: BusDeviceCommandStore) {
    this.directory = directory;
    this.liveness = liveness;
    this.commands = commands;
  }

  /** Opens (and creates if needed) the three streams and resolves once all are caught up. */
  static async open(options: BusRegistryOptions): Promise<BusRegistry> {
    const common = { bus: options.bus, logger: options.logger, ...(options.now ? { now: options.now } : {}) };
    const audit = options.keepAuditTrail === false ? { keepAuditTrail: false } : {};
    const directory = await BusDeviceDirectory.open({ ...common, ...audit });
    const [liveness, commands] = await Promise.all([
      BusDeviceLivenessStore.open(common),
      BusDeviceCommandStore.open({ ...common, ...audit, devices: directory }),
    ]);
    return new BusRegistry(directory, liveness, commands);
  }

  get(deviceId: string): DeviceRecord | undefined { return this.directory.get(deviceId); }
  list(): DeviceRecord[] { return this.directory.list(); }
  patientAt(deviceId: string, timeMs: number): string | undefined { return this.directory.patientAt(deviceId, timeMs); }
  assignments(deviceId: string): Assignment[] { return this.directory.assignments(deviceId); }
  changeVersion(): number { return this.directory.changeVersion(); }

  add(deviceId: string, patientId: string, actor: string, fromMs?: number): Promise<DeviceRecord> {
    return this.directory.add(deviceId, patientId, actor, fromMs);
  }
  assign(deviceId: string, patientId: string, fromMs: number, actor: string): Promise<DeviceRecord> {
    return this.directory.assign(deviceId, patientId, fromMs, actor);
  }
  unassign(deviceId: string, atMs: number, actor: string): Promise<DeviceRecord> {
    return this.directory.unassign(deviceId, atMs, actor);
  }
  setEnabled(deviceId: string, enabled: boolean, actor: string): Promise<DeviceRecord> {
    return this.directory.setEnabled(deviceId, enabled, actor);
  }
  recordRekey(deviceId: string, serials: CertificateSerials, actor: string): Promise<void> {
    return this.directory.recordRekey(deviceId, serials, actor);
  }

  /**
   * Registry changes and commands of the device, oldest first. Each stream's order is the truth
   * (the order the log accepted the changes, whatever the writers' clocks say), so the two are
   * merged by time without reordering either.
   */
  async audit(deviceId: string): Promise<AuditRecord[]> {
    const [changes, commands] = await Promise.all([this.directory.audit(deviceId), this.commands.audit(deviceId)]);
    const merged: AuditRecord[] = [];
    let i = 0;
    let j = 0;
    while (i < changes.length || j < commands.length) {
      const takeChange = j >= commands.length || (i < changes.length && changes[i]!.atMs <= commands[j]!.atMs);
      merged.push(takeChange ? changes[i++]! : commands[j++]!);
    }
    return merged;
  }

  /** Resolves once every registry change published before the call (by any instance) is visible here. */
  async sync(): Promise<void> {
    await Promise.all([this.directory.sync(), this.liveness.sync(), this.commands.sync()]);
  }

  async close(): Promise<void> {
    await Promise.all([this.directory.close(), this.liveness.close(), this.commands.close()]);
  }
}
