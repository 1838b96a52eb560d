/**
 * The device directory on the bus (Kafka in production): a {@link DeviceDirectory} shared by every
 * gateway, processor and API instance, with no database to share.
 *
 * Event-sourced rather than a compacted snapshot topic: the registry must keep its whole audit
 * trail (who, when, before, after) anyway, so the stream `pb.device-events.v1` keeps every change
 * (retention: forever, one partition, so one total order) and each instance folds it into memory.
 * Reads are therefore synchronous and cheap (the gateway resolves a patient per frame). A change
 * is optimistic: the event names the device revision it was computed from and every folder
 * rejects it — in the same log order, so identically — when another change got there first; the
 * writer waits until its own instance has folded the event and retries on a rejection. The fold
 * is idempotent (events carry ids), so at-least-once redelivery is harmless.
 *
 * Start-up replays the whole stream; a compacted snapshot stream would bound that later.
 * Liveness and commands are not covered here (they stay in the registry database).
 */
import { randomUUID } from 'node:crypto';
import { DEVICE_ID_PATTERN } from '../contracts/topics.ts';
import { patientAtTime, patientNow, planAdd, planAssign, planUnassign } from './assignments.ts';
import type { Bus, ConsumedMessage, Subscription } from './bus.ts';
import type { Assignment, AuditRecord, DeviceDirectory, DeviceRecord } from './device-registry.ts';
import { PulsebridgeError } from './errors.ts';
import type { Logger } from './log.ts';

/** The stream of device changes (and sync markers). */
export const DEVICE_EVENTS_STREAM = 'pb.device-events.v1';

interface DeviceState { deviceId: string; enabled: boolean; createdAt: number; assignments: Assignment[] }

interface ChangeEvent {
  schema: 'pb.device-event.v1';
  eventId: string;
  deviceId: string;
  atMs: number;
  actor: string;
  action: string;
  /** Revision the change was computed from; 0 for a new device. */
  baseRevision: number;
  after: DeviceState;
}

interface SyncEvent { schema: 'pb.device-sync.v1'; nonce: string }

interface Folded { state: DeviceState; revision: number; audit: AuditRecord[] }

const PATIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface BusDeviceDirectoryOptions {
  bus: Bus;
  logger: Logger;
  /** Consumer group of this instance's fold; default a unique one (every instance reads everything). */
  groupId?: string;
  now?: () => number;
  /** How long a change or a sync waits to see its own event folded. Default 10 s. */
  visibleTimeoutMs?: number;
}

export class BusDeviceDirectory implements DeviceDirectory {
  readonly #bus: Bus;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #devices = new Map<string, Folded>();
  readonly #seenEvents = new Set<string>();
  /** Waiters for an event id or a sync nonce: resolved with whether a change was accepted. */
  readonly #waiters = new Map<string, (accepted: boolean) => void>();
  #version = 0;
  #subscription: Subscription | undefined;

  private constructor(options: BusDeviceDirectoryOptions) {
    this.#bus = options.bus;
    this.#log = options.logger;
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.visibleTimeoutMs ?? 10_000;
  }

  /** Creates the stream if needed, replays it and resolves once this instance has caught up. */
  static async open(options: BusDeviceDirectoryOptions): Promise<BusDeviceDirectory> {
    const d = new BusDeviceDirectory(options);
    await options.bus.ensureStreams([{ name: DEVICE_EVENTS_STREAM, partitions: 1 }]);
    d.#subscription = await options.bus.subscribe(DEVICE_EVENTS_STREAM, {
      groupId: options.groupId ?? `pb-device-directory-${randomUUID()}`,
      fromBeginning: true,
      onBatch: async (batch) => { for (const m of batch) d.#fold(m); },
    });
    await d.sync();
    return d;
  }

  /** Resolves once every change published before the call is folded here (read-your-writes across instances). */
  async sync(): Promise<void> {
    const nonce = randomUUID();
    const seen = this.#await(nonce);
    const event: SyncEvent = { schema: 'pb.device-sync.v1', nonce };
    await this.#bus.publish(DEVICE_EVENTS_STREAM, [{ key: 'sync', value: Buffer.from(JSON.stringify(event)) }]);
    await seen;
  }

  async close(): Promise<void> {
    await this.#subscription?.stop();
  }

  // ---- reads (synchronous, from the fold) ---------------------------------------------------

  get(deviceId: string): DeviceRecord | undefined {
    const f = this.#devices.get(deviceId);
    return f && this.#record(f.state);
  }

  list(): DeviceRecord[] {
    return [...this.#devices.keys()].sort().map((id) => this.get(id)!);
  }

  patientAt(deviceId: string, timeMs: number): string | undefined {
    const f = this.#devices.get(deviceId);
    return f && patientAtTime(f.state.assignments, timeMs);
  }

  assignments(deviceId: string): Assignment[] {
    return (this.#devices.get(deviceId)?.state.assignments ?? []).map((a) => ({ ...a }));
  }

  changeVersion(): number {
    return this.#version;
  }

  async audit(deviceId: string): Promise<AuditRecord[]> {
    await this.sync();
    return (this.#devices.get(deviceId)?.audit ?? []).map((a) => ({ ...a }));
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
    return this.#change(deviceId, actor, 'assign', (cur) => {
      const next = planAssign(deviceId, cur!.assignments, patientId, fromMs);
      return next && { ...cur!, assignments: next };
    });
  }

  async unassign(deviceId: string, atMs: number, actor: string): Promise<DeviceRecord> {
    return this.#change(deviceId, actor, 'unassign', (cur) => ({ ...cur!, assignments: planUnassign(deviceId, cur!.assignments, atMs) }));
  }

  async setEnabled(deviceId: string, enabled: boolean, actor: string): Promise<DeviceRecord> {
    return this.#change(deviceId, actor, enabled ? 'enable' : 'disable', (cur) => (cur!.enabled === enabled ? undefined : { ...cur!, enabled }));
  }

  /**
   * Computes the new state from the folded one and publishes it; retries when another writer's
   * change was folded first. `plan` returns undefined for "nothing changes".
   */
  async #change(deviceId: string, actor: string, action: string, plan: (cur: DeviceState | undefined) => DeviceState | undefined, mayCreate = false): Promise<DeviceRecord> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = this.#devices.get(deviceId);
      if (!cur && !mayCreate) throw new PulsebridgeError('PB_REGISTRY_UNKNOWN_DEVICE', `device "${deviceId}" is not registered`);
      const after = plan(cur && structuredClone(cur.state));
      if (!after) return this.get(deviceId)!;
      const event: ChangeEvent = {
        schema: 'pb.device-event.v1', eventId: randomUUID(), deviceId, atMs: this.#now(), actor, action, baseRevision: cur?.revision ?? 0, after,
      };
      const folded = this.#await(event.eventId);
      await this.#bus.publish(DEVICE_EVENTS_STREAM, [{ key: deviceId, value: Buffer.from(JSON.stringify(event)) }]);
      if (await folded) return this.get(deviceId)!;
      // Another change of this device was first: recompute on top of it.
    }
    throw new PulsebridgeError('PB_REGISTRY_INVALID', `device ${deviceId} is being changed concurrently; try again`);
  }

  #await(id: string): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new PulsebridgeError('PB_BUS_UNAVAILABLE', `the device directory did not see its own write within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#waiters.set(id, (accepted) => { clearTimeout(timer); this.#waiters.delete(id); resolve(accepted); });
    });
  }

  #fold(m: ConsumedMessage): void {
    let event: ChangeEvent | SyncEvent;
    try {
      event = JSON.parse(m.value.toString('utf8')) as ChangeEvent | SyncEvent;
    } catch (err) {
      this.#log.warn('unreadable device event skipped', { offset: m.offset, err: err as Error });
      return;
    }
    if (event.schema === 'pb.device-sync.v1') {
      this.#waiters.get(event.nonce)?.(true);
      return;
    }
    if (event.schema !== 'pb.device-event.v1' || this.#seenEvents.has(event.eventId)) return;
    this.#seenEvents.add(event.eventId);
    const cur = this.#devices.get(event.deviceId);
    const accepted = (cur?.revision ?? 0) === event.baseRevision;
    if (accepted) {
      const before = cur ? this.#snapshot(cur.state) : null;
      const audit = cur?.audit ?? [];
      audit.push({ atMs: event.atMs, actor: event.actor, action: event.action, deviceId: event.deviceId, before, after: this.#snapshot(event.after) });
      this.#devices.set(event.deviceId, { state: event.after, revision: event.baseRevision + 1, audit });
      this.#version++;
    }
    this.#waiters.get(event.eventId)?.(accepted);
  }

  #record(s: DeviceState): DeviceRecord {
    return { deviceId: s.deviceId, enabled: s.enabled, createdAt: s.createdAt, patientId: patientNow(s.assignments, this.#now()) };
  }

  /** The audited shape, as the SQLite registry writes it. */
  #snapshot(s: DeviceState): DeviceRecord & { assignments: Assignment[] } {
    return { ...this.#record(s), assignments: s.assignments.map((a) => ({ ...a })) };
  }
}

function checkPatientId(patientId: string): void {
  if (!PATIENT_ID_PATTERN.test(patientId)) throw new PulsebridgeError('PB_REGISTRY_INVALID', `patient id "${patientId}" must match ${PATIENT_ID_PATTERN}`);
}
