/**
 * Shared state on the bus: a set of entities (devices, device commands) kept as an event log that
 * every instance folds into memory. Used by the production device registry
 * (platform/registry/directory-bus.ts, platform/registry/commands-bus.ts), so gateways, processors, API
 * instances and the CLI on any host see one state without a database to share.
 *
 * - One partition and retention forever: one total order, and the whole audit trail (who, when,
 *   before, after) is the log itself.
 * - Reads are synchronous and served from memory (the gateway resolves a patient per frame).
 * - A change is optimistic: its event names the entity revision it was computed from, and every
 *   folder rejects it — in the same log order, so identically — when another change of that
 *   entity got there first. The writer waits until its own instance folded the event, and
 *   recomputes on a rejection. Two gateways claiming one command: exactly one wins.
 * - At-least-once redelivery folds each change once: a repeated event names a revision already
 *   past and is rejected (no set of seen event ids to grow without bound).
 * - `sync()` publishes a marker and waits for it: everything published before is folded here
 *   (read-your-writes across instances).
 *
 * Start-up replays the whole stream; a snapshot would bound that when logs grow large.
 */
import { randomUUID } from 'node:crypto';
import type { Bus } from '../bus/index.ts';
import { BusFollower } from '../bus/index.ts';
import type { AuditRecord } from './types.ts';
import { PulsebridgeError } from '../errors.ts';
import type { Logger } from '../log.ts';

/** One accepted-or-rejected change of one entity. */
export interface EntityEvent<S> {
  schema: string;
  eventId: string;
  /** Entity key (device id, command id). */
  key: string;
  /** The device the change concerns (audit trail per device). */
  deviceId: string;
  atMs: number;
  actor: string;
  action: string;
  /** Revision the change was computed from; 0 for a new entity. */
  baseRevision: number;
  after: S;
  /** Fields the audit trail shows beside the states (a rekey's serials); absent from older writers' events. */
  audited?: AuditedBeside;
}

/** What an event adds to the audited before and after, without being part of the entity's state. */
export interface AuditedBeside {
  before: Record<string, unknown>;
  after: Record<string, unknown>;
}

export interface Entity<S> { state: S; revision: number }

/** What a change plan returns: the new state, or undefined for "nothing changes". */
export type ChangePlan<S> = (current: S | undefined) => S | undefined;

export interface BusEntityLogOptions<S> {
  bus: Bus;
  stream: string;
  /** `schema` of this log's change events, e.g. `pb.device-event.v1`. */
  eventSchema: string;
  logger: Logger;
  /** The audited shape of a state (before/after in the audit trail). */
  audited: (state: S) => unknown;
  /**
   * Keep the audit trail in memory (default true). A gateway never reads it: without it an
   * instance holds only each entity's latest state, not every past one.
   */
  keepAuditTrail?: boolean;
  /** Consumer group of this instance's fold; default a unique one (every instance reads everything). */
  groupId?: string;
  now?: () => number;
  /** How long a writer waits to see its own change folded. Default 10 s. */
  visibleTimeoutMs?: number;
  /** Called after an accepted change is folded (indexes of the owner). */
  onAccepted?: (event: EntityEvent<S>, previous: S | undefined) => void;
}

export class BusEntityLog<S> {
  readonly #o: BusEntityLogOptions<S>;
  readonly #now: () => number;
  readonly #entities = new Map<string, Entity<S>>();
  readonly #auditByDevice = new Map<string, AuditRecord[]>();
  #version = 0;
  #follower: BusFollower | undefined;

  private constructor(options: BusEntityLogOptions<S>) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Creates the stream if needed (one partition, kept forever), replays it and resolves once caught up. */
  static async open<S>(options: BusEntityLogOptions<S>): Promise<BusEntityLog<S>> {
    const log = new BusEntityLog(options);
    log.#follower = await BusFollower.open({
      bus: options.bus,
      stream: { name: options.stream, partitions: 1, retainForever: true },
      logger: options.logger,
      onMessage: (value) => log.#fold(value as EntityEvent<S>),
      ...(options.groupId ? { groupId: options.groupId } : {}),
      ...(options.visibleTimeoutMs ? { visibleTimeoutMs: options.visibleTimeoutMs } : {}),
    });
    return log;
  }

  get(key: string): Entity<S> | undefined {
    return this.#entities.get(key);
  }

  /** Every entity, in first-seen order. */
  entities(): IterableIterator<[string, Entity<S>]> {
    return this.#entities.entries();
  }

  /** Changes whenever an accepted change is folded. */
  version(): number {
    return this.#version;
  }

  /** The accepted changes concerning a device, oldest first (copies). */
  auditOf(deviceId: string): AuditRecord[] {
    if (this.#o.keepAuditTrail === false) throw new PulsebridgeError('PB_INTERNAL', `this instance folds ${this.#o.stream} without its audit trail; read the audit from the API or the CLI`);
    return (this.#auditByDevice.get(deviceId) ?? []).map((a) => ({ ...a }));
  }

  /** Resolves once every event published before the call is folded here. */
  sync(): Promise<void> {
    return this.#follower!.sync();
  }

  /**
   * Computes the new state of `key` from the folded one and publishes it; recomputes when another
   * writer's change was folded first. Resolves with the entity after the change (or unchanged).
   * `plan` may throw to refuse the change; it receives a copy it may modify. `action` may depend
   * on the states (e.g. `command.ok` or `command.error`).
   */
  async change(key: string, deviceId: string, actor: string, action: string | ((after: S, before: S | undefined) => string), plan: ChangePlan<S>, audited?: AuditedBeside): Promise<Entity<S> | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = this.#entities.get(key);
      const after = plan(cur && structuredClone(cur.state));
      if (after === undefined) return cur;
      const event: EntityEvent<S> = {
        schema: this.#o.eventSchema, eventId: randomUUID(), key, deviceId, atMs: this.#now(), actor,
        action: typeof action === 'string' ? action : action(after, cur?.state), baseRevision: cur?.revision ?? 0, after,
        ...(audited ? { audited } : {}),
      };
      const follower = this.#follower!;
      const folded = follower.expect(event.eventId);
      try {
        await follower.publish(key, event);
      } catch (err) {
        follower.settle(event.eventId, false);
        throw err;
      }
      if (await folded) return this.#entities.get(key);
      // Another change of this entity was first: recompute on top of it.
    }
    throw new PulsebridgeError('PB_REGISTRY_CONFLICT', `${key} is being changed concurrently; try again`, { details: { status: 409 } });
  }

  async close(): Promise<void> {
    await this.#follower?.close();
  }

  #fold(e: EntityEvent<S>): void {
    if (e?.schema !== this.#o.eventSchema || typeof e.key !== 'string') return;
    // A redelivered event names a revision that is already past: rejected like a lost race, so
    // at-least-once delivery folds each change once without remembering every event id.
    const cur = this.#entities.get(e.key);
    const accepted = (cur?.revision ?? 0) === e.baseRevision;
    if (accepted) {
      if (this.#o.keepAuditTrail !== false) {
        let audit = this.#auditByDevice.get(e.deviceId);
        if (!audit) this.#auditByDevice.set(e.deviceId, (audit = []));
        // Whatever the action (one this version does not know included): it is only shown.
        const before = cur ? this.#o.audited(cur.state) : null;
        const after = this.#o.audited(e.after);
        const beside = isRecord(e.audited) && isRecord(e.audited.before) && isRecord(e.audited.after) ? e.audited : undefined;
        audit.push({
          atMs: e.atMs, actor: e.actor, action: e.action, deviceId: e.deviceId,
          before: beside && isRecord(before) ? { ...before, ...beside.before } : before,
          after: beside && isRecord(after) ? { ...after, ...beside.after } : after,
        });
      }
      this.#entities.set(e.key, { state: e.after, revision: e.baseRevision + 1 });
      this.#version++;
      this.#o.onAccepted?.(e, cur?.state);
    }
    // Unset while the initial replay runs inside BusFollower.open; nobody waits then.
    this.#follower?.settle(e.eventId, accepted);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
