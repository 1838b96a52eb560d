/**
 * Runs N simulated devices (product.md "Simulator"): each has its own seeded sinus rhythm and
 * the scenario's episodes at known device times, sends frames paced by device time, and the
 * ground truth of the episodes it actually produced is written to a JSON file at the end, with
 * the wall-clock times at which each episode's onset was sent (for detection latency).
 *
 * Signal loss: frames due during a `signal_loss` episode are not published on time. With
 * `backlog` (the default) the device keeps them and publishes them, in order and before the next
 * live frame, when it resumes — what firmware that buffers during a radio outage does, and what
 * device-protocol.md allows ("bursts after reconnect"); the data is complete, only late.
 * Without, they are dropped and the pipeline sees a hole. Withheld frames still pending when the
 * run ends are not sent. The MQTT connection stays up meanwhile: it is the data that stops.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import { silentLogger, type Logger } from '../platform/log.ts';
import { applyConfig, checkFirmwareOffer, downloadMs } from './command-handler.ts';
import { DeviceClock, type DeviceClockSpec } from './device-clock.ts';
import { SimulatedDevice, type DeviceCommand, type DeviceCommandResult, type MqttConnectionOptions } from './device.ts';
import { syntheticEcgSource } from './ecg-synth.ts';
import { deviceFrames, SignalLossGate } from './device-frames.ts';
import { frameSettingsProblem, type FrameSettings } from './frames.ts';
import { sleep, validateSpeed, waitUntilDue, type SimSpeed } from './pacing.ts';
import { createPrng, seedFromString } from './prng.ts';
import type { GroundTruthEpisode } from './ground-truth.ts';
import { NORMAL_SCENARIO, resolveScenario, type Scenario } from './scenario.ts';
import { ScenarioTimeline } from './scenario-timeline.ts';
import { deviceWireFormats, encoderOf, type WireFormat, type WireFormatChoice } from './wire-format.ts';

/** Connection settings shared by all devices, with per-device credentials. */
export interface SimConnectOptions extends Omit<MqttConnectionOptions, 'cert' | 'key'> {
  /** Device certificate (PEM) for a device id. */
  certFor?: (deviceId: string) => string | Buffer;
  /** Device private key (PEM) for a device id. */
  keyFor?: (deviceId: string) => string | Buffer;
}

/** Options for {@link runSim}. */
export interface RunSimOptions {
  /** How many devices (ids `${deviceIdPrefix}0001`, …) or the exact device ids. */
  devices: number | readonly string[];
  /** Prefix of generated device ids (default `sim-`). */
  deviceIdPrefix?: string;
  /** A scenario, a built-in name (`clinical-basics`, `all-alarms`, `normal`) or a scenario file path. Default: normal rhythm only. */
  scenario?: Readonly<Scenario> | string;
  /** Device time to simulate, ms. Runs until `signal` aborts when absent. */
  durationMs?: number;
  /** Device time runs this many times faster than wall time (default 1); `'max'` = as fast as acknowledgements allow. */
  speed?: SimSpeed;
  /** Device time at which the simulation starts, ms since the Unix epoch (default: now). */
  t0Ms?: number;
  /** Frame window, ms (default 1000). */
  frameMs?: number;
  /** Synthetic ECG rate in the frames, Hz; null for frames without ECG (default 250). */
  ecgFsHz?: number | null;
  /**
   * ECG-only devices: frames that carry ECG are sent without firmware beats (`beats: []`, `hr: 0`),
   * so the processor detects the beats from the ECG (processor/ecg-beats.ts). The ground truth is
   * the same (the scripted beats the ECG is drawn from). Needs ECG (`ecgFsHz` not null). With its
   * ECG switched off (a `config` command `{"ecg":false}`) such a device sends frames with neither,
   * as a patch without beat detection does (before issue 12 session 19 it sent its beats then).
   * A function chooses per device (a mixed fleet: the fault suite).
   */
  ecgOnly?: boolean | ((deviceId: string, index: number) => boolean);
  /**
   * Paced patients: every beat of the own rhythm up to the pacemaker's upper rate (140/min) is a
   * ventricular paced beat, the ECG carries the pacemaker pulses and JSON v1 frames list them in
   * `ecg.pace` (binary v2 cannot carry them); a pause or asystole is a loss of capture, pulses
   * without QRS (ecg-synth.ts). Only the ECG changes: use with `ecgOnly`, or the firmware beats
   * decide as before.
   */
  paced?: boolean;
  /** Seed of the whole run: same seed and device ids, same rhythms and episodes (default 1). */
  seed?: number | string;
  /** Shift device i's scenario later by i × staggerMs, to spread episodes over devices (default 0). */
  staggerMs?: number;
  /** Battery drain, percent per hour of device time (default 1). */
  batteryDrainPctPerHour?: number;
  connect: SimConnectOptions;
  /** Where to write the ground truth JSON (not written when absent). */
  groundTruthPath?: string;
  /** Most unacknowledged frames per device (default 32). */
  maxInFlight?: number;
  /** Most frames per second per device (default unlimited). */
  maxFramesPerSecond?: number;
  /** Wire encoding of telemetry frames for every device; overrides `format`. */
  encode?: (frame: TelemetryFrame) => Buffer;
  /** Wire format: `v1` (JSON, the default), `v2` (binary) or `mix` (half the devices v2, chosen by the seed; wire-format.ts). */
  format?: WireFormatChoice;
  /**
   * Network drops with resend: every `everyMs` of device time (the first after `everyMs`) a
   * device's socket is destroyed without DISCONNECT (the broker publishes its Last Will) and the
   * network stays down for `downMs` of device time (downMs / speed of wall time; a few ms at
   * `max`). Frames go on being built; unacknowledged and new ones are sent after the reconnect.
   */
  disconnects?: PeriodicEvent;
  /**
   * Scheduled reboots: every `everyMs` of device time the device finishes its acknowledgements,
   * goes offline and is off for `downMs` of device time (default `rebootDownMs`): frames due
   * meanwhile are never recorded. It comes back with `seq` restarting at 0; its clock runs on.
   */
  reboots?: PeriodicEvent;
  /** Device time a reboot takes (scheduled, or after a firmware update), ms (default 5000). */
  rebootDownMs?: number;
  /** Simulated firmware download speed for `fw_offer`, bytes per wall-clock second (default 1 000 000). */
  fwDownloadBytesPerSec?: number;
  /**
   * Device clock minus true time, ms, for every device or per device (device-clock.ts). Frames
   * carry device time; the ground truth stays in true time and records each device's clock.
   */
  clockOffsetMs?: number | ((deviceId: string, index: number) => number);
  /** Device clock drift, ppm (positive = the device clock runs fast), for every device or per device. */
  clockDriftPpm?: number | ((deviceId: string, index: number) => number);
  /** Most devices connecting at the same time, so thousands of devices do not storm the gateway (default 50). */
  connectConcurrency?: number;
  /** Stops the run early; devices disconnect cleanly and the ground truth so far is written. */
  signal?: AbortSignal;
  /** Wall clock (default Date.now). */
  now?: () => number;
  logger?: Logger;
  /** Observes each frame as it is handed to MQTT. */
  onFrame?: (deviceId: string, frame: TelemetryFrame) => void;
  /** Observes disconnects, reboots and applied commands as they happen. */
  onEvent?: (event: SimDeviceEvent) => void;
}

/** Something that happens every `everyMs` of device time, lasting `downMs` of device time. */
export interface PeriodicEvent {
  everyMs: number;
  downMs?: number;
}

/**
 * A disconnect, reboot or command a device went through, or the gateway refusing it (ground
 * truth `deviceEvents`). A refused device (e.g. disabled in the registry) sends nothing more;
 * the other devices go on.
 */
export interface SimDeviceEvent {
  deviceId: string;
  kind: 'disconnect' | 'reboot' | 'config' | 'fw_offer' | 'refused';
  /**
   * True time it happened (a frame boundary), ms since the Unix epoch. refused: the end of the
   * device's last acknowledged frame (its start when none was): the gateway has nothing later.
   */
  atMs: number;
  /** The device clock at that moment, ms since the Unix epoch. */
  deviceAtMs: number;
  /** disconnect, reboot: device time the device was down, ms. */
  downMs?: number;
  /** reboot: firmware it came back with. */
  fw?: string;
  /** config, fw_offer: the command id and whether the device accepted it. */
  commandId?: string;
  ok?: boolean;
  /** config, fw_offer: why the device refused the command; refused: the gateway's answer. */
  error?: string;
  /** config: the settings from then on. */
  settings?: FrameSettings;
}

/** One device's wire format and clock, as written to the ground truth. */
export interface SimDeviceInfo {
  format: WireFormat | 'custom';
  clock: DeviceClockSpec;
  /** Frames without firmware beats (`ecgOnly`). */
  ecgOnly?: true;
}

/** The ground truth file (`groundTruthPath`). */
export interface GroundTruthFile {
  schema: 'pb.sim.groundtruth.v1';
  scenario: string;
  /** Device time at which the simulation started, ms since the Unix epoch. */
  t0Ms: number;
  /** End of the simulated device time, ms since the Unix epoch. */
  endMs: number;
  devices: string[];
  /** Episodes in (deviceId, onset) order; definitions in ground-truth.ts. Times are true time, not device clocks. */
  episodes: GroundTruthEpisode[];
  /** Per device: wire format and clock offset/drift (frames carry device time = true time mapped by it). */
  deviceInfo?: Record<string, SimDeviceInfo>;
  /** Disconnects, reboots and commands, in the order they happened. */
  deviceEvents?: SimDeviceEvent[];
  /** The run's speed and its wall-clock start and end, ms since the Unix epoch. */
  speed?: SimSpeed;
  wallStartMs?: number;
  wallEndMs?: number;
}

/** How late live frames were handed to MQTT after they were due, ms: what the machine sustained. */
export interface SendLagStats {
  p50: number;
  p95: number;
  max: number;
  frames: number;
}

/** What a finished run did. */
export interface RunSimSummary {
  devices: number;
  deviceIds: string[];
  scenario: string;
  t0Ms: number;
  /** Device time simulated, ms. */
  durationMs: number;
  framesSent: number;
  framesAcked: number;
  episodes: GroundTruthEpisode[];
  groundTruthPath: string | undefined;
  /** True when stopped by the abort signal before `durationMs`. */
  aborted: boolean;
  wallMs: number;
  /** Wall-clock time the run started, ms since the Unix epoch. */
  wallStartMs: number;
  speed: SimSpeed;
  sendLagMs: SendLagStats;
  deviceInfo: Record<string, SimDeviceInfo>;
  deviceEvents: SimDeviceEvent[];
}

function validatePeriodic(name: string, p: PeriodicEvent | undefined): void {
  if (p === undefined) return;
  if (!(Number.isFinite(p.everyMs) && p.everyMs > 0)) throw new PulsebridgeError('PB_SIM_FAILED', `${name}.everyMs must be a positive number, got ${p.everyMs}.`);
  if (p.downMs !== undefined && !(Number.isFinite(p.downMs) && p.downMs >= 0)) throw new PulsebridgeError('PB_SIM_FAILED', `${name}.downMs must be zero or more, got ${p.downMs}.`);
}

/**
 * An episode with device-clock times as true times (the ground truth is in true time; wall-clock
 * send times stay as they are).
 */
function episodeInTrueTime(e: GroundTruthEpisode, clock: DeviceClock): GroundTruthEpisode {
  if (clock.spec.offsetMs === 0 && clock.spec.driftPpm === 0) return e;
  const t = (ms: number) => Math.round(clock.toTrue(ms));
  const orNull = (ms: number | null) => (ms === null ? null : t(ms));
  return {
    ...e,
    onsetMs: t(e.onsetMs),
    endMs: orNull(e.endMs),
    criterionMs: orNull(e.criterionMs),
    implied: e.implied.map((i) => ({ ...i, onsetMs: t(i.onsetMs), criterionMs: t(i.criterionMs) })),
    detail: { ...e.detail, scheduledStartMs: t(e.detail.scheduledStartMs) },
  };
}

/** A per-device option of {@link RunSimOptions}: the value, or a function of the device (id, index). */
export function perDevice<T extends number | boolean>(v: T | ((deviceId: string, index: number) => T) | undefined, id: string, i: number): T | undefined {
  return typeof v === 'function' ? v(id, i) : v;
}

/** The CLI's shift between consecutive devices' scenarios (`pulsebridge sim`, `pulsebridge demo`), ms. */
export const SIM_STAGGER_MS = 7_000;

/**
 * The seeds of one simulated device in a run: its scenario timeline's, and the device's own
 * (battery, synthetic ECG). Same run seed and device id, same device.
 */
export function simDeviceSeeds(runSeed: number, deviceId: string): { timeline: number; device: number } {
  return { timeline: seedFromString(`${runSeed}:${deviceId}`), device: seedFromString(`${runSeed}:${deviceId}:device`) };
}

/** Device `index`'s frames start this long after the run's t0: devices are spread over the frame window so they do not all publish in the same millisecond. */
export function simFramePhaseMs(index: number, frameMs: number, deviceCount: number): number {
  return Math.floor((index * frameMs) / deviceCount);
}

/** Device ids for a count: `${prefix}0001` … (at least four digits). */
export function simDeviceIds(count: number, prefix = 'sim-'): string[] {
  const width = Math.max(4, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);
}

/** Keeps the most recent send lags (bounded) and the maximum of all. */
class LagSampler {
  readonly #recent: number[] = [];
  #max = 0;
  #count = 0;

  add(lagMs: number): void {
    const v = Math.max(0, Math.round(lagMs));
    this.#count++;
    this.#max = Math.max(this.#max, v);
    this.#recent.push(v);
    if (this.#recent.length > 100_000) this.#recent.shift();
  }

  stats(): SendLagStats {
    const sorted = [...this.#recent].sort((a, b) => a - b);
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
    return { p50: at(0.5), p95: at(0.95), max: this.#max, frames: this.#count };
  }
}

/** Limits how many async tasks run at once. */
class Semaphore {
  #free: number;
  readonly #queue: Array<() => void> = [];

  constructor(size: number) {
    this.#free = Math.max(1, Math.floor(size));
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#queue.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#free++;
    }
  }
}

async function writeJsonAtomically(filePath: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(path.resolve(filePath)), { recursive: true });
  const tmp = `${filePath}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
  await rename(tmp, filePath);
}

/**
 * Runs the simulation and resolves when every device has sent `durationMs` of device time and
 * every frame has been acknowledged (or the signal aborted it).
 * A device the gateway refuses (not authorized, bad credentials) stops alone: a `refused` event.
 * @throws PulsebridgeError `PB_SIM_FAILED` on invalid options, a connection that fails otherwise,
 *   every device refused at the start, or a scenario error
 */
export async function runSim(options: RunSimOptions): Promise<RunSimSummary> {
  const speed = options.speed ?? 1;
  validateSpeed(speed);
  if (options.durationMs !== undefined && !(Number.isFinite(options.durationMs) && options.durationMs > 0)) {
    throw new PulsebridgeError('PB_SIM_FAILED', `durationMs must be a positive number, got ${options.durationMs}.`);
  }
  const now = options.now ?? Date.now;
  const log = options.logger ?? silentLogger;
  const ids = typeof options.devices === 'number' ? simDeviceIds(options.devices, options.deviceIdPrefix) : [...options.devices];
  if (new Set(ids).size !== ids.length) throw new PulsebridgeError('PB_SIM_FAILED', 'Device ids must be unique.');
  const scenario = typeof options.scenario === 'string' ? await resolveScenario(options.scenario, { speed }) : (options.scenario ?? NORMAL_SCENARIO);
  const frameMs = options.frameMs ?? 1000;
  const t0Ms = Math.round(options.t0Ms ?? now());
  const endMs = options.durationMs === undefined ? undefined : t0Ms + options.durationMs;
  const runSeed = typeof options.seed === 'string' ? seedFromString(options.seed) : (options.seed ?? 1);
  const ecgFsHz = options.ecgFsHz === undefined ? 250 : options.ecgFsHz;
  const ecgOnlyOf = (id: string, i: number): boolean => perDevice(options.ecgOnly, id, i) === true;
  if (ids.some((id, i) => ecgOnlyOf(id, i)) && ecgFsHz === null) throw new PulsebridgeError('PB_SIM_FAILED', 'ECG-only devices need ECG in their frames (ecgFsHz must not be null).');
  const drainPerMs = (options.batteryDrainPctPerHour ?? 1) / 3_600_000;

  const clocks = ids.map((id, i) => new DeviceClock(t0Ms, { offsetMs: perDevice(options.clockOffsetMs, id, i) ?? 0, driftPpm: perDevice(options.clockDriftPpm, id, i) ?? 0 }));
  const formats: Array<WireFormat | 'custom'> = options.encode ? ids.map(() => 'custom') : deviceWireFormats(options.format ?? 'v1', ids, runSeed);
  const deviceInfo: Record<string, SimDeviceInfo> = Object.fromEntries(ids.map((id, i) => [id, { format: formats[i]!, clock: { ...clocks[i]!.spec }, ...(ecgOnlyOf(id, i) ? { ecgOnly: true as const } : {}) }]));
  validatePeriodic('disconnects', options.disconnects);
  validatePeriodic('reboots', options.reboots);
  const rebootDownMs = options.reboots?.downMs ?? options.rebootDownMs ?? 5000;
  const fwBytesPerSec = options.fwDownloadBytesPerSec ?? 1_000_000;
  if (!(fwBytesPerSec > 0)) throw new PulsebridgeError('PB_SIM_FAILED', `fwDownloadBytesPerSec must be positive, got ${fwBytesPerSec}.`);
  const initialSettings: FrameSettings = { frameMs, ecgFsHz };
  const initialProblem = frameSettingsProblem(frameMs, ecgFsHz);
  if (initialProblem) throw new PulsebridgeError('PB_SIM_FAILED', initialProblem);
  const deviceEvents: SimDeviceEvent[] = [];
  const recordEvent = (event: SimDeviceEvent) => {
    deviceEvents.push(event);
    if (event.kind !== 'refused') log.info(`device ${event.kind}`, { ...event });
    options.onEvent?.(event);
  };

  const timelines = ids.map((deviceId, i) => {
    return new ScenarioTimeline({ deviceId, seed: simDeviceSeeds(runSeed, deviceId).timeline, t0Ms: clocks[i]!.deviceT0Ms, scenario, scenarioOffsetMs: i * (options.staggerMs ?? 0) });
  });

  /** What commands change in a running device; read by its frame loop. */
  interface DeviceControl {
    settings: FrameSettings;
    /** ECG rate to use when ECG is on. */
    fsHz: number;
    /** Firmware to reboot into (an accepted fw_offer). */
    rebootTo: string | undefined;
    /** Device time reached (end of the last frame built), for event times. */
    deviceNowMs: number;
    /** Device time up to which the gateway has acknowledged the frames (end of the last one). */
    ackedUntilMs: number;
  }
  const controls: DeviceControl[] = ids.map((_, i) => ({
    settings: { ...initialSettings }, fsHz: ecgFsHz ?? 250, rebootTo: undefined, deviceNowMs: clocks[i]!.deviceT0Ms, ackedUntilMs: clocks[i]!.deviceT0Ms,
  }));

  const c = options.connect;
  const devices: SimulatedDevice[] = [];
  ids.forEach((deviceId, i) => {
    const control = controls[i]!;
    const clock = clocks[i]!;
    const commandEvent = (command: DeviceCommand, result: DeviceCommandResult, extra: Partial<SimDeviceEvent> = {}) =>
      recordEvent({
        deviceId, kind: command.type as 'config' | 'fw_offer', atMs: Math.round(clock.toTrue(control.deviceNowMs)), deviceAtMs: control.deviceNowMs,
        commandId: command.id, ok: result.ok, ...(result.error === undefined ? {} : { error: result.error }), ...extra,
      });
    const onCommand = async (command: DeviceCommand): Promise<DeviceCommandResult> => {
      if (command.type === 'config') {
        const outcome = applyConfig(control.settings, control.fsHz, command);
        if (!outcome.ok) {
          const result = { ok: false, error: outcome.error };
          commandEvent(command, result);
          return result;
        }
        control.settings = outcome.settings;
        control.fsHz = outcome.fsHz;
        commandEvent(command, { ok: true }, { settings: { ...outcome.settings } });
        return { ok: true };
      }
      if (command.type === 'fw_offer') {
        const check = checkFirmwareOffer(command, devices[i]!.status.fw);
        if (!check.ok) {
          const result = { ok: false, error: check.error };
          commandEvent(command, result);
          return result;
        }
        await sleep(downloadMs(check.offer.sizeBytes, fwBytesPerSec), options.signal);
        commandEvent(command, { ok: true }, { fw: check.offer.version });
        return { ok: true };
      }
      return { ok: false, error: `command type "${command.type}" is not supported by the simulator` };
    };
    devices.push(
      new SimulatedDevice({
        deviceId,
        connection: {
          ...c,
          ...(c.certFor ? { cert: c.certFor(deviceId) } : {}),
          ...(c.keyFor ? { key: c.keyFor(deviceId) } : {}),
        },
        logger: log,
        ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
        ...(options.maxFramesPerSecond === undefined ? {} : { maxFramesPerSecond: options.maxFramesPerSecond }),
        encode: options.encode ?? encoderOf(formats[i] as WireFormat),
        onAck: (frame) => { control.ackedUntilMs = Math.max(control.ackedUntilMs, frame.ts + frame.durMs); },
        onCommand,
        // Reboot only once the gateway has the answer: a reboot first would lose it.
        onCommandAnswered: (command, result) => {
          if (command.type === 'fw_offer' && result.ok) control.rebootTo = command.version as string;
        },
      }),
    );
  });

  const connectSlots = new Semaphore(options.connectConcurrency ?? 50);
  const wallStart = now();
  const lag = new LagSampler();
  let framesSent = 0;
  let reachedMs = t0Ms;
  const started: SimulatedDevice[] = [];
  let firstError: unknown;
  /** Wall-clock time of a span of device time (a few ms at max speed, enough for a reconnect). */
  const wallOf = (deviceMs: number) => (speed === 'max' ? 5 : Math.max(1, deviceMs / speed));

  /**
   * Refusals before any device connected: warned about once another device connects (the run
   * goes on without them), else the run fails with the first, as a wrong CA or credentials should.
   */
  const refusedWhileNoneConnected: Array<{ deviceId: string; err: unknown }> = [];
  const warnRefused = (deviceId: string, err: unknown) =>
    log.warn(`${(err as Error).message} It stops; the other devices go on.`, { deviceId });
  const onConnected = (device: SimulatedDevice) => {
    started.push(device);
    for (const r of refusedWhileNoneConnected.splice(0)) warnRefused(r.deviceId, r.err);
  };
  const onRefused = async (index: number, err: unknown): Promise<void> => {
    const device = devices[index]!;
    const clock = clocks[index]!;
    const atDeviceMs = controls[index]!.ackedUntilMs;
    recordEvent({ deviceId: device.deviceId, kind: 'refused', atMs: Math.round(clock.toTrue(atDeviceMs)), deviceAtMs: atDeviceMs, error: (err as Error).message });
    if (started.length === 0) refusedWhileNoneConnected.push({ deviceId: device.deviceId, err });
    else warnRefused(device.deviceId, err);
    // Its unacknowledged frames will never be: close now rather than wait for them at the end.
    await device.kill();
  };

  const runDevice = async (index: number): Promise<void> => {
    const device = devices[index] as SimulatedDevice;
    const timeline = timelines[index] as ScenarioTimeline;
    const clock = clocks[index] as DeviceClock;
    const control = controls[index] as DeviceControl;
    const deviceT0Ms = clock.deviceT0Ms;
    const seed = simDeviceSeeds(runSeed, device.deviceId).device;
    const batteryStart = 60 + Math.floor(createPrng(seed)() * 41); // 60–100 %
    const baseBattery = (tMs: number) => Math.max(0, batteryStart - (tMs - deviceT0Ms) * drainPerMs);
    const phaseMs = simFramePhaseMs(index, frameMs, ids.length);
    const ecgOnly = ecgOnlyOf(device.deviceId, index);
    device.updateStatus({ battery: batteryStart });
    await connectSlots.run(() => device.start());
    onConnected(device);
    const firstTs = deviceT0Ms + phaseMs;
    const deviceEndMs = endMs === undefined ? undefined : Math.ceil(clock.toDevice(endMs));
    const frames = deviceFrames(timeline, {
      t0Ms: firstTs,
      frameMs,
      baseBattery,
      ...(deviceEndMs === undefined ? {} : { durationMs: Math.max(0, deviceEndMs - firstTs) }),
      // The ECG source always exists, so that a config command can turn ECG on.
      ecg: syntheticEcgSource(seed, control.fsHz, { paced: options.paced === true }),
      ecgFsHz: control.fsHz,
      settings: () => control.settings,
    });
    const gate = new SignalLossGate(timeline);
    const send = async (frame: TelemetryFrame, as: 'late' | 'live') => {
      await device.send(frame);
      gate.sent(frame, now(), as);
      framesSent++;
      reachedMs = Math.max(reachedMs, Math.round(clock.toTrue(frame.ts + frame.durMs)));
      options.onFrame?.(device.deviceId, frame);
    };
    const at = (deviceMs: number) => ({ atMs: Math.round(clock.toTrue(deviceMs)), deviceAtMs: deviceMs });
    let seq = 0;
    /** Frames starting before this device time are never recorded: the device is rebooting. */
    let offUntilMs = -Infinity;
    let nextDisconnectMs = options.disconnects ? deviceT0Ms + options.disconnects.everyMs : Infinity;
    let nextRebootMs = options.reboots ? deviceT0Ms + options.reboots.everyMs : Infinity;
    for (const built of frames) {
      const frameEndMs = built.ts + built.durMs;
      control.deviceNowMs = frameEndMs;
      const dueElapsedMs = clock.toTrue(frameEndMs) - t0Ms;
      await waitUntilDue(wallStart, dueElapsedMs, speed, now, options.signal);
      if (options.signal?.aborted || firstError !== undefined) break;
      if (built.ts < offUntilMs) continue;
      // seq counts the frames recorded since the last reboot (device-protocol.md), wrapping at 2^32.
      const frame: TelemetryFrame = ecgOnly ? { ...built, seq, beats: [], hr: 0 } : { ...built, seq };
      seq = (seq + 1) % 0x1_0000_0000;
      const { late, live } = gate.admit(frame, now());
      for (const f of late) await send(f, 'late');
      if (live) {
        if (speed !== 'max') lag.add(now() - (wallStart + dueElapsedMs / speed));
        await send(live, 'live');
        if (live.seq % 60 === 0) device.updateStatus({ battery: live.battery });
      }
      if (options.disconnects && frameEndMs >= nextDisconnectMs) {
        while (nextDisconnectMs <= frameEndMs) nextDisconnectMs += options.disconnects.everyMs;
        const downMs = options.disconnects.downMs ?? 0;
        device.dropConnection(wallOf(downMs));
        recordEvent({ deviceId: device.deviceId, kind: 'disconnect', ...at(frameEndMs), downMs });
      }
      const scheduledReboot = frameEndMs >= nextRebootMs;
      if (scheduledReboot || control.rebootTo !== undefined) {
        if (options.reboots) while (nextRebootMs <= frameEndMs) nextRebootMs += options.reboots.everyMs;
        const fw = control.rebootTo;
        control.rebootTo = undefined;
        try {
          await device.reboot(wallOf(rebootDownMs), fw === undefined ? {} : { fw }, options.signal);
        } catch (err) {
          if (options.signal?.aborted) break;
          throw err;
        }
        seq = 0;
        offUntilMs = frameEndMs + rebootDownMs;
        recordEvent({ deviceId: device.deviceId, kind: 'reboot', ...at(frameEndMs), downMs: rebootDownMs, fw: device.status.fw });
      }
    }
    // After an abort, stop() gives outstanding acknowledgements a grace period instead.
    if (!options.signal?.aborted && firstError === undefined) await device.flush();
  };

  const results = await Promise.allSettled(
    ids.map((_, i) =>
      runDevice(i).catch((err: unknown) => {
        if (devices[i]!.refused) return onRefused(i, err);
        firstError ??= err;
        throw err;
      }),
    ),
  );
  await Promise.allSettled(started.map((d) => (firstError === undefined ? d.stop() : d.kill())));
  const aborted = options.signal?.aborted === true && (endMs === undefined || reachedMs < endMs);
  const untilMs = endMs !== undefined && !aborted ? endMs : reachedMs;
  const episodes = timelines
    .flatMap((t, i) => t.groundTruth(Math.ceil(clocks[i]!.toDevice(untilMs))).map((e) => episodeInTrueTime(e, clocks[i]!)))
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.onsetMs - b.onsetMs));

  if (options.groundTruthPath) {
    const file: GroundTruthFile = {
      schema: 'pb.sim.groundtruth.v1', scenario: scenario.name, t0Ms, endMs: untilMs, devices: ids, episodes, speed, wallStartMs: wallStart, wallEndMs: now(),
      deviceInfo, deviceEvents,
    };
    await writeJsonAtomically(options.groundTruthPath, file);
  }
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  if (refusedWhileNoneConnected.length === ids.length) throw refusedWhileNoneConnected[0]!.err;

  const summary: RunSimSummary = {
    devices: ids.length,
    deviceIds: ids,
    scenario: scenario.name,
    t0Ms,
    durationMs: untilMs - t0Ms,
    framesSent,
    framesAcked: devices.reduce((s, d) => s + d.ackedCount, 0),
    episodes,
    groundTruthPath: options.groundTruthPath,
    aborted,
    wallMs: now() - wallStart,
    wallStartMs: wallStart,
    speed,
    sendLagMs: lag.stats(),
    deviceInfo,
    deviceEvents,
  };
  log.info('simulation finished', { devices: summary.devices, framesSent, framesAcked: summary.framesAcked, episodes: episodes.length });
  return summary;
}
