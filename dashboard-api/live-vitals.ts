/**
 * The board's live view of each patient: the latest telemetry frame's essentials (heart rate,
 * beat classes, battery, lead-off, device time, arrival time) and a short heart-rate history for
 * the tile's sparkline. Folded from the telemetry stream (its own consumer group per API instance,
 * from the newest record on: the board needs "now", the store has the past).
 *
 * Why here and not from the store: the store answers "what was the trend", the board must know
 * within a second whether data is still arriving. Arrival is stamped with this server's wall
 * clock, so "no data for N s" never depends on a device's clock.
 *
 * The heart rate between beats: a frame without a beat (at 50 bpm one 1 s frame in six) keeps
 * the latest rate while the silence is no longer than {@link HOLD_INTERVALS} of its interval;
 * beyond that the rate shown is 60000 / the silence — the rate if a beat came now — so an
 * asystole shows a falling rate at once, never a held one (and never a 0 between two beats).
 * The averaged rate (`hrAvgBpm`, what the tile, the patient view's "now" line and the sparkline
 * show; cardiologist walk #7: in bigeminy the beat-to-beat `hrBpm` flipped 61 ↔ 136 every second):
 * the bedside monitor's averaging the processor's extreme brady/tachy end hysteresis already uses,
 * {@link monitorHrBpm} — the mean of the last 12 known RR intervals without the longest and the
 * shortest, of the last 4 once the last 3 are each > 1.2 s (a slowing heart is followed within a
 * few beats). IEC 60601-2-27 makes the manufacturer disclose the averaging; this is it. Between
 * beats it obeys the same rule as `hrBpm`: held for {@link HOLD_INTERVALS} of its interval, then
 * 60000 / the silence, so an average never hides an asystole. The intervals are forgotten at a
 * lead-off, a change of device and a beat whose interval is unknown (a gap in the beats).
 * A device that sends ECG without beats gets its beats from the processor's QRS detector
 * (processor/ecg-beats.ts): the rate and classes then come from those derived frames
 * (STREAMS.derivedVitals, a second consumer group), which lag the ECG by up to a few seconds.
 */
import type { Beat, TelemetryRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import { MONITOR_HR_INTERVALS, monitorHrBpm } from '../processor/detectors/consecutive-rate.ts';
import type { DerivedBeatFrame, DerivedVitalsRecord } from '../processor/store-sink.ts';

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
  /**
   * Rate over the newest frame's RR intervals (bpm, one decimal); between beats held, then
   * bounded by the silence (file comment); null when lead-off or no interval is known yet.
   */
  hrBpm: number | null;
  /**
   * The averaged rate the board shows (bpm, one decimal): the monitor's averaging over the last 12
   * known RR intervals (file comment); between beats held, then bounded by the silence, as `hrBpm`;
   * null when lead-off or no interval is known yet.
   */
  hrAvgBpm: number | null;
  /** Beat classes of the newest frame in order, e.g. "NNVN" (firmware classes N S V F Q; for an ECG-only device its derived beats). */
  beatClasses: string;
  /** Battery percent, null when the device does not know (255). */
  batteryPct: number | null;
  charging: boolean;
  leadOff: boolean;
  /** Recent averaged heart rate (`hrAvgBpm`) [device time ms, bpm] pairs, oldest first (sparkline). */
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

/**
 * How long a rate is held without a beat, in intervals of that rate: one interval of an irregular
 * rhythm (AF, a compensatory pause) may be this much longer than the mean.
 */
const HOLD_INTERVALS = 1.5;
/**
 * An ECG-only device whose derived beats fall this far behind its newest frame (device time) has
 * an unknown rate rather than a stale one (the processor is behind or down). The derived beats
 * lag by the QRS detector's decision (≈ 0.6 s, ecg-beats.ts; up to 1.5 mean RR right after a
 * beat, while a missed beat can still be searched back) plus a frame and a bus batch, ms.
 */
const DERIVED_STALE_MS = 10_000;

/** Where one patient's beats stand, in device time: what the rate between beats needs. */
interface BeatClock {
  deviceId: string;
  /** The newest beat. */
  lastBeatMs?: number;
  /** Mean rate of the newest frame's known intervals, bpm; undefined when none is known (a first beat after a gap). */
  rateBpm?: number;
  /** The latest known RR intervals since the last gap, oldest first, up to {@link MONITOR_HR_INTERVALS} (the averaged rate). */
  recentRrMs: number[];
  /** End of the newest frame of beats the processor derived from this device's ECG. */
  derivedUntilMs?: number;
  /** Derived frames ending at or before this are superseded (firmware beats or lead-off came after them). */
  supersededUntilMs?: number;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** The clock after a frame's beats (R-peak times and RR, 0 = unknown). */
function addBeats(c: BeatClock, beats: readonly { timeMs: number; rr: number }[]): void {
  if (beats.length === 0) return;
  const known = beats.filter((b) => b.rr > 0);
  c.rateBpm = known.length > 0 ? 60000 / (known.reduce((s, b) => s + b.rr, 0) / known.length) : undefined;
  // An unknown interval is a gap in the beats: the intervals before it are not the rate now.
  for (const b of beats) {
    if (b.rr <= 0) {
      c.recentRrMs = [];
      continue;
    }
    c.recentRrMs.push(b.rr);
    if (c.recentRrMs.length > MONITOR_HR_INTERVALS) c.recentRrMs.shift();
  }
  c.lastBeatMs = beats.at(-1)!.timeMs;
}

/** The clock's averaged rate, bpm; undefined without a known interval. */
function averagedRate(c: BeatClock): number | undefined {
  return c.recentRrMs.length > 0 ? monitorHrBpm(c.recentRrMs) : undefined;
}

/** A rate as a frame with beats shows it (one decimal). */
function shownRate(rateBpm: number | undefined): number | null {
  return rateBpm === undefined ? null : round1(rateBpm);
}

/** The rate to show at device time `atMs` when no beat came since the clock's newest, from the rate shown at that beat. */
function rateBetweenBeats(c: BeatClock, rateBpm: number | undefined, atMs: number): number | null {
  if (rateBpm === undefined || c.lastBeatMs === undefined) return null;
  const silenceMs = atMs - c.lastBeatMs;
  return round1(silenceMs <= (HOLD_INTERVALS * 60000) / rateBpm ? rateBpm : 60000 / silenceMs);
}

/** Both rates of a clock at device time `atMs`: as shown at a frame with beats, or between beats. */
function clockRates(c: BeatClock, withBeats: boolean, atMs: number): { hrBpm: number | null; hrAvgBpm: number | null } {
  const avg = averagedRate(c);
  return withBeats ? { hrBpm: shownRate(c.rateBpm), hrAvgBpm: shownRate(avg) } : { hrBpm: rateBetweenBeats(c, c.rateBpm, atMs), hrAvgBpm: rateBetweenBeats(c, avg, atMs) };
}

const beatTimes = (ts: number, beats: readonly Beat[]) => beats.map((b) => ({ timeMs: ts + b.off, rr: b.rr }));

/** A bus record's JSON; undefined when it is not JSON. */
function parseJson<T>(m: ConsumedMessage): T | undefined {
  try {
    return JSON.parse(m.value.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Latest state per patient plus change notifications (the WebSocket hub sends them once a second). */
export class LiveVitals {
  readonly #o: LiveVitalsOptions;
  readonly #byPatient = new Map<string, LivePatient>();
  readonly #clocks = new Map<string, BeatClock>();
  readonly #changed = new Set<string>();
  readonly #historyPoints: number;
  readonly #ecgWatchers = new Map<string, Set<(e: LiveEcg) => void>>();
  #subs: Subscription[] = [];

  constructor(options: LiveVitalsOptions) {
    this.#o = options;
    this.#historyPoints = options.historyPoints ?? 300;
  }

  async start(): Promise<void> {
    const groupId = this.#o.groupId ?? `pulsebridge-dashboard-live-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
    // Groups of this instance alone unless the caller named them: deleted when it stops.
    const ephemeralGroup = this.#o.groupId === undefined;
    this.#subs.push(await this.#o.bus.subscribe(STREAMS.telemetry, { groupId, ephemeralGroup, fromBeginning: false, onBatch: async (batch) => this.ingest(batch) }));
    this.#subs.push(await this.#o.bus.subscribe(STREAMS.derivedVitals, { groupId: `${groupId}-derived`, ephemeralGroup, fromBeginning: false, onBatch: async (batch) => this.ingestDerived(batch) }));
  }

  async stop(): Promise<void> {
    const subs = this.#subs;
    this.#subs = [];
    for (const sub of subs) await sub.stop();
  }

  /** Folds telemetry records (exposed for tests). Bad records are skipped: the processor dead-letters them. */
  ingest(messages: readonly ConsumedMessage[]): void {
    const now = (this.#o.now ?? Date.now)();
    for (const m of messages) {
      const r = parseJson<TelemetryRecord>(m);
      if (r?.schema !== 'pb.telemetry.v1' || typeof r.patientId !== 'string' || !r.frame) continue;
      this.#fold(r, now);
    }
  }

  /** Folds the processor's ECG-derived beat frames (exposed for tests). Records without frames (older processors) carry nothing for the board. */
  ingestDerived(messages: readonly ConsumedMessage[]): void {
    for (const m of messages) {
      const r = parseJson<DerivedVitalsRecord>(m);
      if (r?.schema !== 'pb.derived-vitals.v1' || !Array.isArray(r.frames)) continue;
      for (const f of r.frames) this.#foldDerived(f);
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
    let clock = this.#clocks.get(r.patientId);
    if (!clock || clock.deviceId !== r.deviceId) this.#clocks.set(r.patientId, (clock = { deviceId: r.deviceId, recentRrMs: [] }));
    let rates: { hrBpm: number | null; hrAvgBpm: number | null };
    let beatClasses = '';
    let measured = true;
    if (f.leadOff) {
      // Beats are unreliable: nothing before the lead-off says anything about the rate after it.
      this.#clocks.set(r.patientId, { deviceId: r.deviceId, recentRrMs: [], supersededUntilMs: endMs });
      rates = { hrBpm: null, hrAvgBpm: null };
    } else if (f.beats.length > 0) {
      addBeats(clock, beatTimes(f.ts, f.beats));
      clock.derivedUntilMs = undefined;
      clock.supersededUntilMs = endMs;
      rates = clockRates(clock, true, endMs);
      beatClasses = f.beats.map((b) => b.cls).join('');
    } else if (clock.derivedUntilMs !== undefined) {
      // The processor derives this device's beats from its ECG: its frames set rate and classes.
      measured = false;
      const fresh = endMs - clock.derivedUntilMs <= DERIVED_STALE_MS && known !== undefined && !known.leadOff;
      rates = fresh ? { hrBpm: known.hrBpm, hrAvgBpm: known.hrAvgBpm } : { hrBpm: null, hrAvgBpm: null };
      beatClasses = fresh ? known.beatClasses : '';
    } else {
      rates = clockRates(clock, false, endMs);
    }
    // The patient's sparkline goes on across a change of device unless the new device's clock is behind it.
    const history = known && (known.deviceId === r.deviceId || (known.hrHistory.at(-1)?.[0] ?? -Infinity) < endMs) ? known.hrHistory : [];
    if (measured) this.#addHistory(history, endMs, rates.hrAvgBpm);
    this.#byPatient.set(r.patientId, {
      patientId: r.patientId,
      deviceId: r.deviceId,
      deviceTimeMs: endMs,
      receivedAtMs: now,
      frameMs: f.durMs,
      ...rates,
      beatClasses,
      batteryPct: f.battery === 255 ? null : f.battery,
      charging: f.charging === true,
      leadOff: f.leadOff,
      hrHistory: history,
    });
    this.#changed.add(r.patientId);
  }

  /** One frame of beats the processor derived from the ECG of a device that sends none. */
  #foldDerived(d: DerivedBeatFrame): void {
    const known = this.#byPatient.get(d.patientId);
    const clock = this.#clocks.get(d.patientId);
    // The tile is opened by the device's telemetry; a derived frame of another device, one already
    // folded, or one that firmware beats or a lead-off came after has nothing to add.
    if (!known || !clock || known.deviceId !== d.deviceId || clock.deviceId !== d.deviceId) return;
    const endMs = d.ts + d.durMs;
    if (endMs <= Math.max(clock.derivedUntilMs ?? -Infinity, clock.supersededUntilMs ?? -Infinity)) return;
    clock.derivedUntilMs = endMs;
    addBeats(clock, beatTimes(d.ts, d.beats));
    if (known.leadOff) return;
    const rates = clockRates(clock, d.beats.length > 0, endMs);
    this.#addHistory(known.hrHistory, endMs, rates.hrAvgBpm);
    this.#byPatient.set(d.patientId, { ...known, ...rates, beatClasses: d.beats.map((b) => b.cls).join('') });
    this.#changed.add(d.patientId);
  }

  #addHistory(history: [number, number][], atMs: number, hrBpm: number | null): void {
    if (hrBpm === null || (history.length > 0 && history.at(-1)![0] >= atMs)) return;
    history.push([atMs, hrBpm]);
    if (history.length > this.#historyPoints) history.splice(0, history.length - this.#historyPoints);
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
