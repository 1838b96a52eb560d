/**
 * Delivers persistent device commands (device-protocol.md "Commands") and correlates their
 * results. A command is sent to `pb/v1/dev/{id}/cmd` at QoS 1 when its device has subscribed
 * to that topic here: at once when the device subscribes (pending ones, and delivered ones it
 * has not answered — it may have missed them when its connection dropped — unless its persistent
 * session re-sent them on this connection already), and for commands
 * created later (by the API or the CLI, possibly in another process) when the poll sees the
 * store's change counter move. A command is never sent once it is no longer deliverable (timed
 * out, expired, answered), neither by us nor by the persistent session (sessionMayResend). The
 * result on `…/cmd/ack` is matched by command id and device.
 */
import { deviceTopics } from '../contracts/topics.ts';
import { commandResultSchema, type DeviceCommand, type DeviceCommandStore, type ResultOutcome } from '../platform/registry/index.ts';
import type { Logger } from '../platform/log.ts';
import type { Metric } from '../platform/metrics.ts';
import { describeZodIssues } from '../platform/zod-issues.ts';

export interface CommandDispatcherOptions {
  store: DeviceCommandStore;
  /** Publishes to the device's command topic at QoS 1; resolves once handed to its subscription. */
  publish(topic: string, payload: Buffer): Promise<void>;
  /** Audit actor of deliveries, e.g. `gateway:<id>`. */
  actor: string;
  logger: Logger;
  /** Counter `pb_gateway_commands_total{event}`. */
  counter: Metric;
}

export type ResultHandling = { ok: true; outcome: ResultOutcome; command?: DeviceCommand } | { ok: false; reason: string; detail: string };

export class CommandDispatcher {
  readonly #o: CommandDispatcherOptions;
  /** Devices subscribed to their command topic on this gateway. */
  readonly #subscribed = new Set<string>();
  #seenVersion = -1;

  constructor(options: CommandDispatcherOptions) {
    this.#o = options;
  }

  /**
   * The device subscribed to its command topic (or reconnected to a session that holds the
   * subscription): send what waits for it. `inFlight`: ids of commands this connection already
   * got again from its persistent session — aedes re-sends a PUBLISH the device had not PUBACKed
   * when it reconnects with clean session false [MQTT-4.4.0-1] — which are not sent a second time
   * (each unanswered command reaches the device once per connection; the session keeps it until
   * the PUBACK, and the next connection gets it from one of the two again).
   */
  async subscribed(deviceId: string, inFlight: ReadonlySet<string> = new Set()): Promise<void> {
    this.#subscribed.add(deviceId);
    const waiting = this.#o.store.deliverable(deviceId);
    for (const c of waiting) {
      if (!inFlight.has(c.id)) continue;
      // A re-delivery all the same: the device has the command again now, so its answer timeout
      // restarts (planDelivery), as after the gateway's own resend — without this claim a device
      // reconnecting late in the timeout got the command with the old deadline and timed out
      // while it worked on it (review of c57bc08).
      try {
        await this.#o.store.markDelivered(c.id, this.#o.actor, c.deliveryCount);
      } catch (err) {
        // (It reached the device anyway; the others still go out.)
        this.#o.logger.warn('device command re-sent by the MQTT session could not be recorded as delivered', { deviceId, commandId: c.id, err: err as Error });
      }
      this.#o.counter.inc({ event: 'session_resent' });
      this.#o.logger.debug('device command re-sent by the MQTT session, not sent again', { deviceId, commandId: c.id });
    }
    await this.#deliver(waiting.filter((c) => !inFlight.has(c.id)));
  }

  /**
   * Whether the device's persistent MQTT session may re-send this command at a reconnect (aedes
   * re-sends a PUBLISH the device had not PUBACKed, whatever became of the command since). Only
   * while the store still lists it as deliverable to the device: once it timed out, expired or was
   * answered, the operator has seen its outcome, and a device carrying it out now would act on a
   * command reported as not done (its answer only recorded as late). A refusal is counted
   * (`session_suppressed`) and logged; the caller drops the copy from the session.
   *
   * Called synchronously inside aedes' CONNECT handling (lib/handlers/connect.js emptyQueueFilter,
   * in a promise callback without a catch): it reads only (`deliverable`, `peek`: no sweep, no
   * write transaction to wait for, and the due commands of every device stay for `tick()` to
   * record, count and log), and never throws. A store that fails is logged and answers false: the
   * session's copy is dropped and the id is not noted as re-sent, so `subscribed()` at clientReady
   * (gateway.ts serveCommands) lists `deliverable()` again and publishes, through its own claim,
   * whatever is still deliverable — the command is not lost, at worst not re-sent on this connection.
   */
  sessionMayResend(deviceId: string, commandId: string): boolean {
    try {
      if (this.#o.store.deliverable(deviceId).some((c) => c.id === commandId)) return true;
      const c = this.#o.store.peek(commandId);
      this.#o.counter.inc({ event: 'session_suppressed' });
      this.#o.logger.info('device command held in the MQTT session not re-sent: no longer deliverable', {
        deviceId, commandId, state: c?.deviceId === deviceId ? c.state : 'unknown',
        ...(c?.deviceId === deviceId && c.deadlineAtMs !== undefined ? { deadlineAtMs: c.deadlineAtMs } : {}),
      });
    } catch (err) {
      this.#o.logger.warn('device command held in the MQTT session not re-sent: the command store could not be read; the gateway sends it if still deliverable', {
        deviceId, commandId, err: err as Error,
      });
    }
    return false;
  }

  /** Unsubscribed or disconnected. */
  gone(deviceId: string): void {
    this.#subscribed.delete(deviceId);
  }

  /** Poll tick: time out / expire what is due, and deliver commands created since the last tick. */
  async tick(): Promise<void> {
    for (const c of await this.#o.store.sweep()) {
      this.#o.counter.inc({ event: c.state });
      this.#o.logger.info('device command finished without a result', { deviceId: c.deviceId, commandId: c.id, state: c.state });
    }
    const version = this.#o.store.changeVersion();
    if (version === this.#seenVersion || this.#subscribed.size === 0) {
      this.#seenVersion = version;
      return;
    }
    this.#seenVersion = version;
    await this.#deliver(this.#o.store.pending([...this.#subscribed]));
  }

  /** A payload on `…/cmd/ack`. Never throws for bad input: returns the reason instead. */
  async result(deviceId: string, payload: Buffer): Promise<ResultHandling> {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return { ok: false, reason: 'invalid_command_result', detail: `command result is not valid JSON: ${(err as Error).message}` };
    }
    const parsed = commandResultSchema.safeParse(json);
    if (!parsed.success) {
      return { ok: false, reason: 'invalid_command_result', detail: describeZodIssues(parsed.error, 5) };
    }
    const { outcome, command } = await this.#o.store.recordResult(deviceId, parsed.data, `device:${deviceId}`);
    if (outcome === 'unknown') return { ok: false, reason: 'unknown_command', detail: `device ${deviceId} has no command ${parsed.data.id}` };
    this.#o.counter.inc({ event: outcome === 'recorded' ? command!.state : outcome });
    return { ok: true, outcome, ...(command ? { command } : {}) };
  }

  async #deliver(commands: DeviceCommand[]): Promise<void> {
    for (const c of commands) {
      if (!this.#subscribed.has(c.deviceId)) continue;
      // Claim first, naming the delivery count we saw: two triggers (subscribe and tick) or two
      // gateways working from the same listing never send it twice.
      const claimed = await this.#o.store.markDelivered(c.id, this.#o.actor, c.deliveryCount);
      if (!claimed) continue;
      try {
        await this.#o.publish(deviceTopics(c.deviceId).cmd, Buffer.from(JSON.stringify(claimed.payload)));
        this.#o.counter.inc({ event: claimed.deliveryCount > 1 ? 'redelivered' : 'delivered' });
      } catch (err) {
        // Stays `delivered`: sent again when the device re-subscribes, or timed out.
        this.#o.logger.warn('device command could not be published', { deviceId: c.deviceId, commandId: c.id, err: err as Error });
      }
    }
  }
}
