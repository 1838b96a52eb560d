/**
 * A simulated wearable: one MQTT 3.1.1 connection (mutual TLS or, for local development, plain
 * TCP) that behaves as device-protocol.md requires of firmware.
 *
 * - Client id = device id; certificate, key and CA from the caller.
 * - Status `{"online":true,…}` retained at QoS 1 after every (re)connect; Last Will
 *   `{"online":false}` retained at QoS 1 on the same topic.
 * - Telemetry at QoS 1. mqtt.js calls the publish callback on PUBACK, which is the pipeline's
 *   promise that the frame is durable ("Delivery guarantee"). Unacknowledged frames stay in
 *   mqtt.js's outgoing store (in memory, per client) and are re-sent, unchanged and in order,
 *   after a reconnect (mqtt.js `_onConnect` replays the store before anything new), so the
 *   gateway sees the same `seq` again and de-duplicates it.
 * - A bounded window of unacknowledged frames (`maxInFlight`) gives back-pressure: `send`
 *   waits while the window is full.
 * - Commands on `…/cmd` are answered on `…/cmd/ack` (`ping` → ok, others via `onCommand`).
 * - {@link SimulatedDevice.reboot} goes offline and comes back with a fresh connection and status.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { FRAME_LIMITS, type TelemetryFrame } from '../contracts/telemetry.ts';
import { DEVICE_ID_PATTERN, deviceTopics } from '../contracts/topics.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import { silentLogger, type Logger } from '../platform/log.ts';
import { encodeV1 } from './frames.ts';

/** How a device reaches the gateway. */
export interface MqttConnectionOptions {
  /** `mqtts://host:8883` (TLS) or `mqtt://host:1883` (plain TCP, development only). */
  url: string;
  /** CA that signed the gateway's certificate (PEM). */
  ca?: string | Buffer;
  /** Device certificate (PEM); its subject CN must be the device id. */
  cert?: string | Buffer;
  /** Device private key (PEM). */
  key?: string | Buffer;
  /** Verify the gateway's certificate (default true). */
  rejectUnauthorized?: boolean;
  /** TLS server name to verify, when it differs from the URL's host. */
  servername?: string;
  /** MQTT keep-alive, s (default 30). */
  keepaliveSec?: number;
  /** Pause between reconnect attempts, ms (default 1000). */
  reconnectPeriodMs?: number;
  /** Time allowed for the first connection (TCP, TLS and CONNACK), ms (default 10 000). */
  connectTimeoutMs?: number;
  /**
   * MQTT clean-session flag (default false: the broker keeps the session across reconnects, as
   * firmware that must not lose data would). Unacknowledged frames are re-sent either way.
   */
  clean?: boolean;
}

/** Fields of the retained status message besides `online` (device-protocol.md "Status"). */
export interface DeviceStatusInfo {
  fw: string;
  model: string;
  battery: number;
  charging: boolean;
}

/** A command from the cloud (device-protocol.md "Commands"). */
export interface DeviceCommand {
  id: string;
  type: string;
  [field: string]: unknown;
}

/** A command result. */
export interface DeviceCommandResult {
  ok: boolean;
  error?: string;
}

/** Options for {@link SimulatedDevice}. */
export interface SimulatedDeviceOptions {
  deviceId: string;
  connection: MqttConnectionOptions;
  status?: Partial<DeviceStatusInfo>;
  /** Most frames sent but not yet acknowledged (default 32). */
  maxInFlight?: number;
  /** Most telemetry frames per second (default unlimited; the gateway's default limit is 20/s sustained). */
  maxFramesPerSecond?: number;
  /** Wire encoding (default JSON v1). */
  encode?: (frame: TelemetryFrame) => Buffer;
  /** Called when a frame's PUBACK arrives. */
  onAck?: (frame: TelemetryFrame) => void;
  /**
   * Answers commands other than `ping` (default: `{ok:false}` "not supported by the simulator").
   * May take its time (a firmware download): the answer is published when it resolves.
   */
  onCommand?: (command: DeviceCommand) => DeviceCommandResult | Promise<DeviceCommandResult>;
  /** Called once a command's answer has been acknowledged by the gateway (PUBACK), e.g. to reboot after `fw_offer`. */
  onCommandAnswered?: (command: DeviceCommand, result: DeviceCommandResult) => void;
  logger?: Logger;
  /** Clock for rate limiting, ms (default Date.now). */
  now?: () => number;
}

/** MQTT 3.1.1 CONNACK codes that will not change by retrying (bad identifier, credentials, not authorized). */
const FATAL_CONNACK_CODES = new Set([2, 4, 5]);

const DEFAULT_STATUS: DeviceStatusInfo = { fw: '2.3.1-sim', model: 'PB-Sim-1', battery: 100, charging: false };

/** One simulated device connection. */
export class SimulatedDevice {
  readonly deviceId: string;
  readonly #opts: SimulatedDeviceOptions;
  readonly #topics: ReturnType<typeof deviceTopics>;
  readonly #maxInFlight: number;
  readonly #encode: (frame: TelemetryFrame) => Buffer;
  readonly #log: Logger;
  readonly #now: () => number;
  #status: DeviceStatusInfo;
  #client: MqttClient | undefined;
  #inFlight = 0;
  #sent = 0;
  #acked = 0;
  #connects = 0;
  #failure: Error | undefined;
  #refused = false;
  #nextSendAt = 0;
  #waiters: Array<() => void> = [];

  constructor(options: SimulatedDeviceOptions) {
    if (!DEVICE_ID_PATTERN.test(options.deviceId)) {
      throw new PulsebridgeError('PB_SIM_FAILED', `Device id "${options.deviceId}" is not valid (1–64 of A–Z a–z 0–9 . _ -).`);
    }
    this.deviceId = options.deviceId;
    this.#opts = options;
    this.#topics = deviceTopics(options.deviceId);
    this.#maxInFlight = options.maxInFlight ?? 32;
    this.#encode = options.encode ?? encodeV1;
    this.#log = (options.logger ?? silentLogger).child({ deviceId: options.deviceId });
    this.#now = options.now ?? Date.now;
    this.#status = { ...DEFAULT_STATUS, ...options.status };
  }

  /** Frames handed to MQTT so far. */
  get sentCount(): number {
    return this.#sent;
  }

  /** Frames whose PUBACK has arrived. */
  get ackedCount(): number {
    return this.#acked;
  }

  /** Frames sent and not yet acknowledged. */
  get inFlightCount(): number {
    return this.#inFlight;
  }

  /** The status the device reports (firmware, model, battery, charging). */
  get status(): Readonly<DeviceStatusInfo> {
    return this.#status;
  }

  /**
   * True once the gateway has refused the device with an answer retrying will not change (not
   * authorized, bad credentials: e.g. the device was disabled in the registry). The device is
   * failed from then on, with that refusal as its error.
   */
  get refused(): boolean {
    return this.#refused;
  }

  /** Successful connections so far (1 after start, +1 per reconnect). */
  get connectCount(): number {
    return this.#connects;
  }

  /**
   * Connects, publishes the online status and subscribes to commands. Resolves once the first
   * CONNACK and the command SUBACK have arrived; afterwards mqtt.js reconnects by itself.
   * @throws PulsebridgeError `PB_SIM_FAILED` when the gateway refuses or cannot be reached in time
   */
  start(): Promise<void> {
    if (this.#client) return Promise.reject(new PulsebridgeError('PB_SIM_FAILED', `Device ${this.deviceId} is already started.`));
    const c = this.#opts.connection;
    // mqtt.js turns mqtt:// into TLS when a certificate and key are given; the URL's scheme decides
    // here, so a plain-MQTT development gateway is reached as the URL says (found in session 33:
    // the demo with PULSEBRIDGE_MQTT_PLAINTEXT connected no device).
    const tls = !/^(mqtt|ws):/i.test(c.url);
    const options: IClientOptions = {
      clientId: this.deviceId,
      protocolVersion: 4,
      clean: c.clean ?? false,
      keepalive: c.keepaliveSec ?? 30,
      reconnectPeriod: c.reconnectPeriodMs ?? 1000,
      connectTimeout: c.connectTimeoutMs ?? 10_000,
      rejectUnauthorized: c.rejectUnauthorized ?? true,
      will: { topic: this.#topics.status, payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
      ...(!tls || c.ca === undefined ? {} : { ca: c.ca }),
      ...(!tls || c.cert === undefined ? {} : { cert: c.cert }),
      ...(!tls || c.key === undefined ? {} : { key: c.key }),
      ...(!tls || c.servername === undefined ? {} : { servername: c.servername }),
    };
    const client = connect(c.url, options);
    this.#client = client;
    // Settles the start promise: started = connected and subscribed to commands, so a command
    // sent right after start arrives. Cleared once settled.
    let settleStart: ((err?: Error) => void) | undefined;

    client.on('connect', () => {
      this.#connects++;
      if (this.#connects > 1) this.#log.info('reconnected', { connects: this.#connects, inFlight: this.#inFlight });
      this.#publishStatus(true);
      client.subscribe(this.#topics.cmd, { qos: 1 }, (err) => {
        if (err) this.#log.warn('command subscription refused', { err });
        settleStart?.();
      });
    });
    client.on('close', () => {
      // Before the first CONNACK a close means refusal, typically of the client certificate:
      // with TLS 1.3 the server verifies it after the client's handshake has completed and
      // simply closes, so no error event carries a reason.
      settleStart?.(new Error('the gateway closed the connection before accepting it (with TLS, the device certificate may have been refused)'));
    });
    client.on('message', (topic, payload) => {
      if (topic === this.#topics.cmd) this.#answerCommand(payload);
    });
    // Over TLS, mqtt.js emits an error of the connection attempt twice (its TLS stream builder and
    // its stream error handler both pass it on): each error object is handled once.
    const seen = new WeakSet<Error>();
    client.on('error', (err: Error & { code?: unknown }) => {
      if (seen.has(err)) return;
      seen.add(err);
      if (typeof err.code === 'number' && FATAL_CONNACK_CODES.has(err.code)) {
        this.#refused = true;
        // Not logged here: the caller gets it as the error of start, send or flush and says what it means.
        this.#fail(new PulsebridgeError('PB_SIM_FAILED', `Gateway refused device ${this.deviceId}: ${err.message}.`, { cause: err }), false);
      } else if (client.disconnecting) {
        // The gateway closing the socket right after our DISCONNECT (a TLS reset) is not a fault.
        this.#log.debug('connection error while disconnecting', { err });
      } else {
        this.#log.warn('connection error', { err });
      }
      settleStart?.(err);
    });

    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => settleStart?.(new Error(`not connected within ${options.connectTimeout} ms`)), options.connectTimeout);
      settleStart = (err?: Error) => {
        settleStart = undefined;
        clearTimeout(timer);
        if (!err) return resolve();
        const failure = this.#failure ?? new PulsebridgeError('PB_SIM_FAILED', `Device ${this.deviceId} could not connect to ${c.url}: ${err.message}.`, { cause: err });
        this.#fail(failure);
        client.end(true);
        reject(failure);
      };
    });
  }

  /** Updates the status fields (e.g. battery) and republishes the retained status when connected. */
  updateStatus(status: Partial<DeviceStatusInfo>): void {
    this.#status = { ...this.#status, ...status };
    if (this.#client?.connected) this.#publishStatus(true);
  }

  /**
   * Publishes one frame at QoS 1. Waits while the in-flight window is full (and for the rate
   * limit), then hands the frame to MQTT and resolves; the acknowledgement is tracked and
   * awaited by {@link flush}.
   * @throws PulsebridgeError `PB_SIM_FAILED` when the device has failed or the frame is too large
   */
  async send(frame: TelemetryFrame): Promise<void> {
    const client = this.#requireClient();
    while (this.#inFlight >= this.#maxInFlight) {
      await this.#nextChange();
      this.#throwIfFailed();
    }
    if (this.#opts.maxFramesPerSecond !== undefined) {
      const wait = this.#nextSendAt - this.#now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.#nextSendAt = Math.max(this.#now(), this.#nextSendAt) + 1000 / this.#opts.maxFramesPerSecond;
      this.#throwIfFailed();
    }
    const payload = this.#encode(frame);
    if (payload.byteLength > FRAME_LIMITS.maxPayloadBytes) {
      throw new PulsebridgeError('PB_SIM_FAILED', `Frame ${frame.seq} of device ${this.deviceId} is ${payload.byteLength} bytes, over the ${FRAME_LIMITS.maxPayloadBytes}-byte payload limit.`);
    }
    this.#inFlight++;
    this.#sent++;
    const publish = () => client.publish(this.#topics.telemetry, payload, { qos: 1 }, (err) => {
      // mqtt.js queues publishes made while it re-sends its store after a reconnect, and fails
      // them with "Connection closed" when the connection drops again before it is done: they
      // never reached the store, so firmware would simply send them again. (While disconnected
      // otherwise, QoS 1 publishes go to the store and are re-sent on reconnect.)
      if (err?.message === 'Connection closed' && !client.disconnecting && !this.#failure) {
        // Later, not now: mqtt.js is still iterating its queue (in order, so the order is kept).
        setImmediate(publish);
        return;
      }
      this.#inFlight--;
      if (err) this.#fail(new PulsebridgeError('PB_SIM_FAILED', `Frame ${frame.seq} of device ${this.deviceId} was not acknowledged: ${err.message}.`, { cause: err }));
      else {
        this.#acked++;
        this.#opts.onAck?.(frame);
      }
      this.#wake();
    });
    publish();
  }

  /**
   * Resolves when every frame sent so far has been acknowledged (re-sends after reconnects
   * included). Waits through reconnects for as long as it takes, unless `signal` aborts.
   * @throws PulsebridgeError `PB_SIM_FAILED` when the device fails or `signal` aborts first
   */
  async flush(signal?: AbortSignal): Promise<void> {
    this.#throwIfFailed();
    const onAbort = () => this.#wake();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (this.#inFlight > 0) {
        if (signal?.aborted) throw new PulsebridgeError('PB_SIM_FAILED', `Device ${this.deviceId} stopped waiting for ${this.#inFlight} acknowledgements.`);
        await this.#nextChange();
        this.#throwIfFailed();
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Simulates losing the network: the socket is destroyed without an MQTT DISCONNECT (so the
   * broker publishes the Last Will), and mqtt.js reconnects after `reconnectPeriodMs`, or after
   * `downMs` when given (the network stays down that long; later drops use the usual period).
   * Frames sent meanwhile wait in mqtt.js and, like the unacknowledged ones, go out on reconnect.
   */
  dropConnection(downMs?: number): void {
    const client = this.#client;
    if (!client) return;
    if (downMs !== undefined) {
      const usual = client.options.reconnectPeriod;
      // mqtt.js reads the period when it schedules the reconnect timer, right after the close.
      client.options.reconnectPeriod = Math.max(1, Math.round(downMs));
      client.once('connect', () => {
        client.options.reconnectPeriod = usual;
      });
    }
    client.stream?.destroy();
  }

  /**
   * Reboots the device (device-protocol.md: `seq` restarts at 0 after a reboot — the caller's
   * frames do that): waits for outstanding acknowledgements, publishes `{"online":false}` and
   * disconnects cleanly, stays off for `downMs` (wall clock), then connects again with a new
   * MQTT client and publishes the status with `status` applied (e.g. a new `fw`).
   * @throws PulsebridgeError `PB_SIM_FAILED` when the device has failed or cannot reconnect
   */
  async reboot(downMs: number, status: Partial<DeviceStatusInfo> = {}, signal?: AbortSignal): Promise<void> {
    this.#requireClient();
    await this.flush(signal);
    await this.stop();
    this.#client = undefined;
    this.#status = { ...this.#status, ...status };
    await new Promise((r) => setTimeout(r, Math.max(0, downMs)));
    await this.start();
  }

  /**
   * Publishes `{"online":false}` (retained) and disconnects cleanly. mqtt.js first waits for
   * outstanding acknowledgements; after `graceMs` (default 5000) the connection is closed
   * anyway (without DISCONNECT, so the broker publishes the Last Will). Idempotent.
   */
  async stop(graceMs = 5000): Promise<void> {
    const client = this.#client;
    if (!client || client.disconnecting || client.disconnected) return;
    if (client.connected && !this.#failure) this.#publishStatus(false);
    await new Promise<void>((resolve) => {
      // mqtt.js ignores a second end() while disconnecting, so the forced close destroys the socket.
      const timer = setTimeout(() => {
        client.stream?.destroy();
        resolve();
      }, graceMs);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#wake();
  }

  /** Ends the connection at once, without a DISCONNECT (the broker publishes the Last Will). */
  async kill(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    this.#fail(new PulsebridgeError('PB_SIM_FAILED', `Device ${this.deviceId} was stopped.`));
  }

  #publishStatus(online: boolean): void {
    const body = online ? { online: true, ...this.#status } : { online: false };
    this.#client?.publish(this.#topics.status, JSON.stringify(body), { qos: 1, retain: true }, (err) => {
      if (err) this.#log.warn('status not acknowledged', { err });
    });
  }

  #answerCommand(payload: Buffer): void {
    let command: DeviceCommand;
    try {
      const parsed: unknown = JSON.parse(payload.toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as DeviceCommand).id !== 'string') throw new Error('no command id');
      command = parsed as DeviceCommand;
    } catch (err) {
      this.#log.warn('unreadable command ignored', { err });
      return;
    }
    void this.#resultOf(command).then((result) => {
      const client = this.#client;
      if (!client || client.disconnecting) return; // rebooted or stopped meanwhile: the gateway re-sends it
      client.publish(this.#topics.cmdAck, JSON.stringify({ id: command.id, ...result }), { qos: 1 }, (err) => {
        if (err) this.#log.warn('command answer not acknowledged', { err, commandId: command.id });
        else this.#opts.onCommandAnswered?.(command, result);
      });
    });
  }

  async #resultOf(command: DeviceCommand): Promise<DeviceCommandResult> {
    if (command.type === 'ping') return { ok: true };
    if (!this.#opts.onCommand) return { ok: false, error: `command type "${String(command.type)}" is not supported by the simulator` };
    try {
      return await this.#opts.onCommand(command);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  #requireClient(): MqttClient {
    this.#throwIfFailed();
    if (!this.#client) throw new PulsebridgeError('PB_SIM_FAILED', `Device ${this.deviceId} is not started.`);
    return this.#client;
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }

  #fail(err: Error, log = true): void {
    if (!this.#failure) {
      this.#failure = err;
      if (log) this.#log.error('device failed', { err });
    }
    this.#wake();
  }

  #nextChange(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const resolve of w) resolve();
  }
}
