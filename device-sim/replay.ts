/**
 * Replays an annotated PhysioNet record as one device (product.md "Simulator" and "Stable
 * surface for automation"): beats from the record's reference annotations, ECG from its signal
 * file when present, in device time, `speed` × faster than real time (or as fast as
 * acknowledgements allow). Device time is chosen so the record ends at the moment the replay
 * starts (every frame is in the past, at any speed), or with `live` at 1× so sample 0 is now (a
 * device streaming in real time: the board's ages and trends read as at the bedside); the first
 * output line tells automation where sample 0 is: `{"record":…,"device":…,"t0":…}`.
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import { silentLogger, type Logger } from '../platform/log.ts';
import { beatClassOfSymbol } from './beat-classes.ts';
import { SimulatedDevice, type MqttConnectionOptions } from './device.ts';
import { buildFrames, recordEcgSource, type TimedBeat } from './frames.ts';
import { validateSpeed, waitUntilDue, type SimSpeed } from './pacing.ts';
import { missingEcgIntervals, readWfdbRecord, type WfdbRecord } from './wfdb-record.ts';

/** Options for {@link runReplay}. */
export interface ReplayOptions {
  /** Record path without extension, e.g. `data/ecg/mitdb/100` (`.hea` suffix accepted). */
  recordPath: string;
  deviceId: string;
  /** Device time runs this many times faster than wall time; `'max'` = as fast as acknowledgements allow, in order. */
  speed: SimSpeed;
  connect: MqttConnectionOptions;
  /** Receives output lines (without newline); the first is the `{"record","device","t0"}` object. */
  out?: (line: string) => void;
  /** Frame window, ms (default 1000). */
  frameMs?: number;
  /** Send the record's ECG when it has one (default true). */
  ecg?: boolean;
  /** ECG rate in the frames, Hz (default: the record's rate, e.g. 360 for mitdb). */
  ecgFsHz?: number;
  /** Header signal used as the ECG lead (default 0); one the header lacks is refused. */
  ecgSignalIndex?: number;
  /**
   * Sample 0 at the replay's start instead of the record's end at it: device time runs with the
   * wall clock, as a device streaming now. Only at speed 1 — faster, frames would carry times
   * from the future, which the processor takes for a device clock running ahead.
   */
  live?: boolean;
  /** Battery percent reported in frames and status (default 100). */
  battery?: number;
  /** Most unacknowledged frames (default 32). */
  maxInFlight?: number;
  /** Most frames per second sent (default unlimited). */
  maxFramesPerSecond?: number;
  /** Wire encoding of telemetry frames (default JSON v1, `encodeV1`). */
  encode?: (frame: TelemetryFrame) => Buffer;
  /** Wall clock, ms since the Unix epoch (default Date.now). */
  now?: () => number;
  /** Stops sending early; the promise then rejects. */
  signal?: AbortSignal;
  logger?: Logger;
  /** Observes each frame as it is handed to MQTT (tests, progress). */
  onFrame?: (frame: TelemetryFrame) => void;
}

/** What a finished replay did. */
export interface ReplaySummary {
  record: string;
  deviceId: string;
  /** Device time of sample 0, ms since the Unix epoch. */
  t0Ms: number;
  /** Device time covered, ms. */
  durationMs: number;
  frames: number;
  beats: number;
  acked: number;
  /** Which annotation file the beats came from. */
  beatAnnotationPath: string;
  /** Whether frames carried ECG. */
  ecg: boolean;
  wallMs: number;
}

/** Device-time beats of a record whose sample 0 is at `t0Ms`: tMs = t0Ms + round(sample × 1000 / fs). */
export function recordBeats(record: WfdbRecord, t0Ms: number): TimedBeat[] {
  const out: TimedBeat[] = [];
  for (const a of record.beats) {
    const cls = beatClassOfSymbol(a.symbol);
    if (cls === undefined || a.sample >= record.lengthSamples) continue;
    out.push({ tMs: t0Ms + Math.round((a.sample * 1000) / record.header.fsHz), cls });
  }
  return out;
}

/** Length of a record in device time, ms (rounded to whole ms). */
export function recordDurationMs(record: WfdbRecord): number {
  return Math.round((record.lengthSamples * 1000) / record.header.fsHz);
}

/**
 * Replays a record as one device and resolves once every frame has been acknowledged.
 * @throws PulsebridgeError `PB_WFDB_INVALID` for an unreadable record, `PB_SIM_FAILED` when the
 *         connection is refused or lost for good, or the replay is aborted
 */
export async function runReplay(options: ReplayOptions): Promise<ReplaySummary> {
  validateSpeed(options.speed);
  if (options.live && options.speed !== 1) {
    throw new PulsebridgeError('PB_SIM_FAILED', `A live replay runs at speed 1 (asked: ${options.speed}): faster, its frames would carry device times from the future.`);
  }
  const now = options.now ?? Date.now;
  const log = options.logger ?? silentLogger;
  const record = await readWfdbRecord(options.recordPath, { loadEcg: options.ecg ?? true, ...(options.ecgSignalIndex === undefined ? {} : { ecgSignalIndex: options.ecgSignalIndex }) });
  const durationMs = recordDurationMs(record);
  const t0Ms = Math.round(now()) - (options.live ? 0 : durationMs);
  const beats = recordBeats(record, t0Ms);
  const battery = options.battery ?? 100;

  const device = new SimulatedDevice({
    deviceId: options.deviceId,
    connection: options.connect,
    status: { battery },
    logger: log,
    ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
    ...(options.maxFramesPerSecond === undefined ? {} : { maxFramesPerSecond: options.maxFramesPerSecond }),
    ...(options.encode === undefined ? {} : { encode: options.encode }),
  });
  const frameMs = options.frameMs ?? 1000;
  const frames = buildFrames(beats, {
    t0Ms,
    durationMs,
    // (The record ends in its last frame: no flat line past its end.)
    endAtDuration: true,
    frameMs,
    battery,
    // Invalid ("no data") ECG samples are sent as lead-off frames, as a device would flag them.
    ...(record.ecg ? { ecg: recordEcgSource(record.ecg.uV, record.ecg.fsHz, t0Ms), leadOff: missingEcgIntervals(record.ecg, t0Ms) } : {}),
    ...(options.ecgFsHz === undefined ? {} : { ecgFsHz: options.ecgFsHz }),
  });

  await device.start();
  const wallStart = now();
  let sent = 0;
  try {
    options.out?.(JSON.stringify({ record: options.recordPath, device: options.deviceId, t0: t0Ms }));
    for (const frame of frames) {
      await waitUntilDue(wallStart, frame.ts + frame.durMs - t0Ms, options.speed, now, options.signal);
      if (options.signal?.aborted) throw new PulsebridgeError('PB_SIM_FAILED', `Replay of ${options.recordPath} was interrupted after ${sent} frames.`);
      await device.send(frame);
      options.onFrame?.(frame);
      sent++;
    }
    await device.flush(options.signal);
  } catch (err) {
    await device.kill();
    throw err;
  }
  await device.stop();
  const summary: ReplaySummary = {
    record: options.recordPath,
    deviceId: options.deviceId,
    t0Ms,
    durationMs,
    frames: sent,
    beats: beats.length,
    acked: device.ackedCount,
    beatAnnotationPath: record.beatAnnotationPath,
    ecg: record.ecg !== undefined,
    wallMs: now() - wallStart,
  };
  log.info('replay finished', { ...summary });
  return summary;
}
