/**
 * The time-series store port (SQLite through node:sqlite in embedded mode, InfluxDB through its
 * v1 HTTP API in production). Points are on device time.
 */
import type { EcgStrip } from '../../contracts/ecg-strip.ts';

/**
 * The device's frame counter of the frame a point came from (device-protocol.md `seq`), where it
 * is known. Points are idempotent per series and device time, so the same frame resent overwrites
 * its own points; but a device clock stepped back by a whole number of frames (a time-zone or NTP
 * step of exactly an hour) sends other frames at device times already stored, which would
 * overwrite the stored points. The stores keep points of different frames apart by it. Absent
 * (points the processor derives from the ECG of analysed frames, whose times only advance):
 * keyed by time alone.
 */
export type FrameSeq = number;

/** One heart-rate point: the rate over one frame's beats, at the frame's end (device time). */
export interface HeartRatePoint {
  patientId: string;
  deviceId: string;
  /** Device time, ms since epoch. */
  timeMs: number;
  hrBpm: number;
  seq?: FrameSeq;
}

/** One RR interval, at the R-peak that closes it (device time). */
export interface RrPoint {
  patientId: string;
  deviceId: string;
  timeMs: number;
  rrMs: number;
  /** Firmware beat class of the closing beat (N, S, V, F, Q). */
  cls: string;
  seq?: FrameSeq;
}

export interface VitalsStore {
  /** Resolves once the store has accepted every point. Batched by the caller. */
  write(points: { heartRate: HeartRatePoint[]; rr: RrPoint[] }): Promise<void>;
  /** Heart-rate points of one patient with fromMs <= timeMs < toMs, oldest first. */
  queryHeartRate(patientId: string, fromMs: number, toMs: number): Promise<HeartRatePoint[]>;
  /** RR points of one patient with fromMs <= timeMs < toMs, oldest first. */
  queryRr(patientId: string, fromMs: number, toMs: number): Promise<RrPoint[]>;
  /** Keeps ECG strips around alarms (contracts/ecg-strip.ts); writing an alert's strip again replaces it. */
  writeEcgStrips(strips: EcgStrip[]): Promise<void>;
  /** The strip of one alert of one patient, or undefined when there is none. */
  getEcgStrip(patientId: string, alertId: string): Promise<EcgStrip | undefined>;
  /**
   * Resolves when the store can serve reads now; rejects with the reason (dashboard-api/store-health.ts).
   * Absent where there is nothing remote to fail (the embedded SQLite file).
   */
  ping?(): Promise<void>;
  close(): Promise<void>;
}
