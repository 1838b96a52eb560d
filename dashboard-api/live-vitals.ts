/**
 * The board's live view of each patient: the latest telemetry frame's essentials (heart rate,
 * beat classes, battery, lead-off, device time, arrival time) and a short heart-rate history for
 * the tile's sparkline. Folded from the telemetry stream (its own consumer group per API instance,
 * from the newest record on: the board needs "now", the store has the past).
 *
 * Why here and not from the store: the store answers "what was the trend", the board must know
 * within a second whether data is still arriving. Arrival is stamped with this server's wall
 * clock, so "no data for N s" never depends on a device's clock.
 */
import type { TelemetryRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';

/** The newest state of one patient (one entry per patient: the device that sent last wins). */
export interface LivePatient {
  patientId: string;
  deviceId: string;
  /** Device time of the frame's end, ms since epoch. */
  deviceTimeMs: number;
  /** This server's wall clock when the frame arrived, ms since epoch. */
  receivedAtMs: number;
  /** Frame duration, ms: the client treats ≥ 2.5 frames without news as "no data". */
  frameMs: number;
  /** Rate over the frame's RR intervals (bpm, one decimal), or the device's own `hr`; null when lead-off or no beats. */
  hrBpm: number | null;
  /** Beat classes of the frame in order, e.g. "NNVN" (firmware classes N S V F Q). */
  beatClasses: string;
  /** Battery percent, null when the device does not know (255). */
  batteryPct: number | null;
  charging: boolean;
  leadOff: boolean;
  /** Recent heart rate [device time ms, bpm] pairs, oldest first (sparkline). */
  hrHistory: [number, number][];
}

/** One frame's ECG for a watching client (the patient view's live strip). */
export interface LiveEcg {
  patientId: string;
  deviceId: string;
  /** Device time of sample 0, ms since epoch. */
  ts: number;
  fs: number;
  uV: number[];
  leadOff: boolean;
  /** Beat times (device ms) and classes within the frame. */
  beats: { timeMs: number; cls: string }[];
}

export interface LiveVitalsOptions {
  bus: Bus;
  logger: Logger;
  /** Heart-rate points kept per patient for the sparkline. Default 300 (5 min of 1 s frames). */
  historyPoints?: number;
  now?: () => number;
  groupId?: string;
}

/** Latest state per patient plus change notifications (the WebSocket hub sends them once a second). */
export class LiveVitals {
  readonly #o: LiveVitalsOptions;
  readonly #byPatient = new Map<string, LivePatient>();
  readonly #changed = new Set<string>();
  readonly #historyPoints: number;
  readonly #ecgWatchers = new Map<string, Set<(e: LiveEcg) => void>>();
  #sub: Subscription | undefined;

  constructor(options: LiveVitalsOptions) {
    this.#o = options;
    this.#historyPoints = options.historyPoints ?? 300;
  }

  async start(): Promise<void> {
    this.#sub = await this.#o.bus.subscribe(STREAMS.telemetry, {
      groupId: this.#o.groupId ?? `pulsebridge-dashboard-live-${process.pid}-${Math.random().toString(36).slice(2, 10)}`,
      fromBeginning: false,
      onBatch: async (batch) => this.ingest(batch),
    });
  }

  async stop(): Promise<void> {
    await this.#sub?.stop();
    this.#sub = undefined;
  }

  /** Folds telemetry records (exposed for tests). Bad records are skipped: the processor dead-letters them. */
  ingest(messages: readonly ConsumedMessage[]): void {
    const now = (this.#o.now ?? Date.now)();
    for (const m of messages) {
      let r: TelemetryRecord;
      try {
        r = JSON.parse(m.value.toString('utf8')) as TelemetryRecord;
      } catch {
        continue;
      }
      if (r?.schema !== 'pb.telemetry.v1' || typeof r.patientId !== 'string' || !r.frame) continue;
      this.#fold(r, now);
    }
  }

  /** Calls `cb` with every ECG frame of the patient until the returned function is called. */
  watchEcg(patientId: string, cb: (e: LiveEcg) => void): () => void {
    let set = this.#ecgWatchers.get(patientId);
    if (!set) this.#ecgWatchers.set(patientId, (set = new Set()));
    set.add(cb);
    return () => {
      set.delete(cb);
      if (set.size === 0) this.#ecgWatchers.delete(patientId);
    };
  }

  #fold(r: TelemetryRecord, now: number): void {
    const f = r.frame;
    const watchers = this.#ecgWatchers.get(r.patientId);
    if (watchers && f.ecg) {
      const e: LiveEcg = { patientId: r.patientId, deviceId: r.deviceId, ts: f.ts, fs: f.ecg.fs, uV: f.ecg.uV, leadOff: f.leadOff, beats: f.beats.map((b) => ({ timeMs: f.ts + b.off, cls: b.cls })) };
      for (const w of watchers) w(e);
    }
    const endMs = f.ts + f.durMs;
    const known = this.#byPatient.get(r.patientId);
    // A resent or reordered older frame must not make the tile go back in time.
    if (known && known.deviceId === r.deviceId && endMs <= known.deviceTimeMs) return;
    const rr = f.beats.filter((b) => b.rr > 0);
    const hrBpm = f.leadOff ? null : rr.length > 0 ? Math.round((60000 / (rr.reduce((s, b) => s + b.rr, 0) / rr.length)) * 10) / 10 : f.beats.length === 0 ? 0 : null;
    const history = known?.hrHistory ?? [];
    if (hrBpm !== null) {
      history.push([endMs, hrBpm]);
      if (history.length > this.#historyPoints) history.splice(0, history.length - this.#historyPoints);
    }
    this.#byPatient.set(r.patientId, {
      patientId: r.patientId,
      deviceId: r.deviceId,
      deviceTimeMs: endMs,
      receivedAtMs: now,
      frameMs: f.durMs,
      hrBpm,
      beatClasses: f.leadOff ? '' : f.beats.map((b) => b.cls).join(''),
      batteryPct: f.battery === 255 ? null : f.battery,
      charging: f.charging === true,
      leadOff: f.leadOff,
      hrHistory: history,
    });
    this.#changed.add(r.patientId);
  }

  get(patientId: string): LivePatient | undefined {
    return this.#byPatient.get(patientId);
  }

  /** Every patient seen since start. */
  all(): LivePatient[] {
    return [...this.#byPatient.values()];
  }

  /** Patients changed since the previous call (the hub's once-a-second delta). */
  takeChanged(): Set<string> {
    const out = new Set(this.#changed);
    this.#changed.clear();
    return out;
  }
}

/** The wire form on the stream: the history only in snapshots (deltas carry the newest point). */
export function liveWire(p: LivePatient, withHistory: boolean): Record<string, unknown> {
  const { hrHistory, ...rest } = p;
  return withHistory ? { ...rest, hrHistory } : rest;
}
