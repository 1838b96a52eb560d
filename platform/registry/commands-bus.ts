/**
 * Device commands on the bus (Kafka in production): the {@link DeviceCommandStore} shared by every
 * gateway, API instance and the CLI, with no database to share. Event-sourced on
 * {@link BusEntityLog} (stream `pb.device-commands.v1`, one partition, kept forever: the log is
 * the commands' audit trail), one entity per command, with the rules of device-commands.ts.
 *
 * Claims are optimistic: when two gateways (or a subscribe and a poll) deliver one command, or a
 * sweep races an answer, the log orders the two changes and the second one is recomputed on top
 * of the first (so a command is delivered once and an answer is never lost to a timeout).
 *
 * Reads are synchronous from the fold. A command whose TTL or answer deadline passed reads as
 * `expired` / `timed_out` at once (derived, like the SQLite store's read-time sweep); a gateway's
 * periodic `sweep()` then records the transition in the log.
 */
import type { Bus } from '../bus/index.ts';
import { BusEntityLog } from './entity-log.ts';
import {
  checkCommandTarget, dueFinal, FINAL_COMMAND_STATES, isDeliverable, newCommand, planDelivery, planResult, resultAction,
  type CommandRequest, type CommandResult, type DeviceCommand, type DeviceCommandStore, type ResultOutcome,
} from './commands.ts';
import type { AuditRecord } from './types.ts';
import type { Logger } from '../log.ts';

export const DEVICE_COMMANDS_STREAM = 'pb.device-commands.v1';

export interface BusDeviceCommandOptions {
  bus: Bus;
  logger: Logger;
  /** Which devices exist and are enabled (the device directory). */
  devices: { get(deviceId: string): { enabled: boolean } | undefined };
  now?: () => number;
  groupId?: string;
  /** Keep the audit trail in memory (default true; gateways do without). */
  keepAuditTrail?: boolean;
}

export class BusDeviceCommandStore implements DeviceCommandStore {
  readonly #devices: BusDeviceCommandOptions['devices'];
  readonly #now: () => number;
  /** Command ids per device, oldest first. */
  readonly #byDevice = new Map<string, string[]>();
  /**
   * Ids of commands not final yet (pending or delivered), in log order. What a poll tick scans
   * (sweep, pending, deliverable): the open few, not every command ever sent.
   */
  readonly #open = new Set<string>();
  #log!: BusEntityLog<DeviceCommand>;
  #created = 0;

  private constructor(options: BusDeviceCommandOptions) {
    this.#devices = options.devices;
    this.#now = options.now ?? Date.now;
  }

  /** Creates the stream if needed, replays it and resolves once caught up. */
  static async open(options: BusDeviceCommandOptions): Promise<BusDeviceCommandStore> {
    const store = new BusDeviceCommandStore(options);
    store.#log = await BusEntityLog.open<DeviceCommand>({
      bus: options.bus,
      stream: DEVICE_COMMANDS_STREAM,
      eventSchema: 'pb.device-command-event.v1',
      logger: options.logger,
      audited: (c) => c,
      ...(options.now ? { now: options.now } : {}),
      ...(options.groupId ? { groupId: options.groupId } : {}),
      ...(options.keepAuditTrail === false ? { keepAuditTrail: false } : {}),
      onAccepted: (event, previous) => {
        if (FINAL_COMMAND_STATES.has(event.after.state)) store.#open.delete(event.key);
        else store.#open.add(event.key);
        if (previous) return;
        let ids = store.#byDevice.get(event.deviceId);
        if (!ids) store.#byDevice.set(event.deviceId, (ids = []));
        ids.push(event.key);
        store.#created++;
      },
    });
    return store;
  }

  async create(deviceId: string, request: CommandRequest, actor: string): Promise<DeviceCommand> {
    checkCommandTarget(deviceId, this.#devices.get(deviceId));
    const command = newCommand(deviceId, request, actor, this.#now());
    await this.#log.change(command.id, deviceId, actor, 'command.create', (cur) => (cur ? undefined : command));
    return this.get(command.id)!;
  }

  get(commandId: string): DeviceCommand | undefined {
    const c = this.#log.get(commandId)?.state;
    return c && this.#current(c);
  }

  /** As `get`: reads here never write (the fold derives what is due; `sweep()` records it). */
  peek(commandId: string): DeviceCommand | undefined {
    return this.get(commandId);
  }

  list(deviceId: string, limit = 50): DeviceCommand[] {
    const ids = this.#byDevice.get(deviceId) ?? [];
    return ids.slice(-limit).reverse().map((id) => this.get(id)!);
  }

  pending(deviceIds?: readonly string[]): DeviceCommand[] {
    const wanted = deviceIds && new Set(deviceIds);
    return oldestFirst(this.#openCommands().filter((c) => (!wanted || wanted.has(c.deviceId)) && c.state === 'pending' && c.expiresAtMs > this.#now()));
  }

  deliverable(deviceId: string): DeviceCommand[] {
    return oldestFirst(this.#openCommands().filter((c) => c.deviceId === deviceId && isDeliverable(c, this.#now())));
  }

  async markDelivered(commandId: string, actor: string, seenDeliveryCount?: number): Promise<DeviceCommand | undefined> {
    let claimed = false;
    // Without the caller's count, the count of the first attempt: a recomputation after losing
    // the race to another claimant must not deliver the command a second time.
    let seen = seenDeliveryCount;
    const entity = await this.#log.change(commandId, this.#deviceOf(commandId), actor, 'command.deliver', (cur) => {
      seen ??= cur?.deliveryCount;
      const after = cur && planDelivery(cur, this.#now(), seen);
      claimed = after !== undefined;
      return after;
    });
    return claimed ? entity?.state : undefined;
  }

  async recordResult(deviceId: string, result: CommandResult, actor: string): Promise<{ outcome: ResultOutcome; command?: DeviceCommand }> {
    // A device can only answer its own commands; an unknown id must not create an entity.
    if (this.#log.get(result.id)?.state.deviceId !== deviceId) return { outcome: 'unknown' };
    let outcome: ResultOutcome = 'unknown';
    const entity = await this.#log.change(result.id, deviceId, actor, resultAction, (cur) => {
      const planned = planResult(cur, deviceId, result, this.#now());
      outcome = planned.outcome;
      return planned.after;
    });
    return { outcome, ...(entity ? { command: entity.state } : {}) };
  }

  async sweep(): Promise<DeviceCommand[]> {
    const now = this.#now();
    const changed: DeviceCommand[] = [];
    for (const id of [...this.#open]) {
      const state = this.#log.get(id)!.state;
      if (!dueFinal(state, now)) continue;
      let swept = false;
      const entity = await this.#log.change(id, state.deviceId, 'system', (after) => `command.${after.state}`, (cur) => {
        // Recomputed on top of a change that got there first (an answer, another gateway's sweep).
        const after = cur && dueFinal(cur, now);
        swept = after !== undefined;
        return after;
      });
      if (swept && entity) changed.push(entity.state);
    }
    return changed;
  }

  /** Moves when a command is created (here or in any other instance). */
  changeVersion(): number {
    return this.#created;
  }

  /** The commands' audit trail of a device (create, deliver, outcome), oldest first. */
  async audit(deviceId: string): Promise<AuditRecord[]> {
    await this.#log.sync();
    return this.#log.auditOf(deviceId);
  }

  sync(): Promise<void> {
    return this.#log.sync();
  }

  close(): Promise<void> {
    return this.#log.close();
  }

  #deviceOf(commandId: string): string {
    return this.#log.get(commandId)?.state.deviceId ?? '';
  }

  /** Open commands as of now (a command past its deadline already reads as final). */
  #openCommands(): DeviceCommand[] {
    return [...this.#open].map((id) => this.get(id)!);
  }

  /** The command as of now: past its TTL or answer deadline it reads as final before the sweep records it. */
  #current(c: DeviceCommand): DeviceCommand {
    return dueFinal(c, this.#now()) ?? c;
  }
}

/** By creation time; stable, so commands created in one millisecond keep their log order. */
const oldestFirst = (commands: DeviceCommand[]) => commands.sort((a, b) => a.createdAtMs - b.createdAtMs);
