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
import { SimulatedDevice, type MqttConnectionOptions } from './device.ts';
import { syntheticEcgSource } from './ecg-synth.ts';
import { deviceFrames, SignalLossGate } from './device-frames.ts';
import { validateSpeed, waitUntilDue, type SimSpeed } from './pacing.ts';
import { createPrng, seedFromString } from './prng.ts';
import type { GroundTruthEpisode } from './ground-truth.ts';
import { NORMAL_SCENARIO, resolveScenario, ScenarioTimeline, type Scenario } from './scenario.ts';

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
  /** Wire encoding of telemetry frames (default JSON v1, `encodeV1`). */
  encode?: (frame: TelemetryFrame) => Buffer;
  /** Most devices connecting at the same time, so thousands of devices do not storm the gateway (default 50). */
  connectConcurrency?: number;
  /** Stops the run early; devices disconnect cleanly and the ground truth so far is written. */
  signal?: AbortSignal;
  /** Wall clock (default Date.now). */
  now?: () => number;
  logger?: Logger;
  /** Observes each frame as it is handed to MQTT. */
  onFrame?: (deviceId: string, frame: TelemetryFrame) => void;
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
  /** Episodes in (deviceId, onset) order; definitions in ground-truth.ts. */
  episodes: GroundTruthEpisode[];
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
 * @throws PulsebridgeError `PB_SIM_FAILED` on invalid options, a refused connection, or a scenario error
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
  const drainPerMs = (options.batteryDrainPctPerHour ?? 1) / 3_600_000;

  const timelines = ids.map((deviceId, i) => {
    const seed = seedFromString(`${runSeed}:${deviceId}`);
    return new ScenarioTimeline({ deviceId, seed, t0Ms, scenario, scenarioOffsetMs: i * (options.staggerMs ?? 0) });
  });

  const c = options.connect;
  const devices = ids.map(
    (deviceId) =>
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
        ...(options.encode === undefined ? {} : { encode: options.encode }),
      }),
  );

  const connectSlots = new Semaphore(options.connectConcurrency ?? 50);
  const wallStart = now();
  const lag = new LagSampler();
  let framesSent = 0;
  let reachedMs = t0Ms;
  const started: SimulatedDevice[] = [];
  let firstError: unknown;

  const runDevice = async (index: number): Promise<void> => {
    const device = devices[index] as SimulatedDevice;
    const timeline = timelines[index] as ScenarioTimeline;
    const seed = seedFromString(`${runSeed}:${device.deviceId}:device`);
    const batteryStart = 60 + Math.floor(createPrng(seed)() * 41); // 60–100 %
    const baseBattery = (tMs: number) => Math.max(0, batteryStart - (tMs - t0Ms) * drainPerMs);
    // Spread devices over the frame window so they do not all publish in the same millisecond.
    const phaseMs = Math.floor((index * frameMs) / ids.length);
    device.updateStatus({ battery: batteryStart });
    await connectSlots.run(() => device.start());
    started.push(device);
    const frames = deviceFrames(timeline, {
      t0Ms: t0Ms + phaseMs,
      frameMs,
      baseBattery,
      ...(endMs === undefined ? {} : { durationMs: endMs - t0Ms - phaseMs }),
      ...(ecgFsHz === null ? {} : { ecg: syntheticEcgSource(seed, ecgFsHz), ecgFsHz }),
    });
    const gate = new SignalLossGate(timeline);
    const send = async (frame: TelemetryFrame, as: 'late' | 'live') => {
      await device.send(frame);
      gate.sent(frame, now(), as);
      framesSent++;
      reachedMs = Math.max(reachedMs, frame.ts + frame.durMs);
      options.onFrame?.(device.deviceId, frame);
    };
    for (const frame of frames) {
      const dueElapsedMs = frame.ts + frame.durMs - t0Ms;
      await waitUntilDue(wallStart, dueElapsedMs, speed, now, options.signal);
      if (options.signal?.aborted || firstError !== undefined) break;
      const { late, live } = gate.admit(frame, now());
      for (const f of late) await send(f, 'late');
      if (!live) continue;
      if (speed !== 'max') lag.add(now() - (wallStart + dueElapsedMs / speed));
      await send(live, 'live');
      if (live.seq % 60 === 0) device.updateStatus({ battery: live.battery });
    }
    // After an abort, stop() gives outstanding acknowledgements a grace period instead.
    if (!options.signal?.aborted && firstError === undefined) await device.flush();
  };

  const results = await Promise.allSettled(
    ids.map((_, i) =>
      runDevice(i).catch((err: unknown) => {
        firstError ??= err;
        throw err;
      }),
    ),
  );
  await Promise.allSettled(started.map((d) => (firstError === undefined ? d.stop() : d.kill())));
  const aborted = options.signal?.aborted === true && (endMs === undefined || reachedMs < endMs);
  const untilMs = endMs !== undefined && !aborted ? endMs : reachedMs;
  const episodes = timelines
    .flatMap((t) => t.groundTruth(untilMs))
    .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.onsetMs - b.onsetMs));

  if (options.groundTruthPath) {
    const file: GroundTruthFile = { schema: 'pb.sim.groundtruth.v1', scenario: scenario.name, t0Ms, endMs: untilMs, devices: ids, episodes, speed, wallStartMs: wallStart, wallEndMs: now() };
    await writeJsonAtomically(options.groundTruthPath, file);
  }
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;

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
  };
  log.info('simulation finished', { devices: summary.devices, framesSent, framesAcked: summary.framesAcked, episodes: episodes.length });
  return summary;
}
